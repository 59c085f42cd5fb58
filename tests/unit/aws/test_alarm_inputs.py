"""What the aggregator publishes for the design brief's alarms, and which FIS template a fault
uses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stresslab.aws.aggregation import alarm_readings
from stresslab.aws.faults import template_id


def tick(sent: int, errors: int, timeouts: int, p99: float | None) -> SimpleNamespace:
    return SimpleNamespace(window={"sent": sent, "errors": errors, "timeouts": timeouts,
                                   "p99_ms": p99})


def test_error_rate_in_percent_and_p99_per_second():
    readings = alarm_readings([tick(200, 1, 1, 12.5), tick(0, 0, 0, None)])
    assert readings == [("ErrorRate", pytest.approx(1.0)), ("LatencyP99", 12.5)]


def test_a_targeted_fault_uses_its_own_template_and_never_the_all_targets_one():
    templates = {"latency": "tpl-all", "latency:geographic_risk": "tpl-geo"}
    assert template_id(templates, "latency", "geographic_risk") == "tpl-geo"
    assert template_id(templates, "latency", "compliance") is None
    assert template_id(templates, "latency", None) == "tpl-all"
    assert template_id(templates, "throttle", None) is None
