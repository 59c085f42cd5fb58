"""report.html names the system under test and says when the cost is modelled."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from stresslab.outputs.report import render_report_html
from stresslab.targets.identity import identify_target

GOLDEN = Path(__file__).with_name("summary_golden") / "local.json"


def _summary(**changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(GOLDEN.read_text())
    summary.update(changes)
    return summary


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_the_report_names_a_foreign_target_by_name_kind_and_host() -> None:
    identity = identify_target("https://fraud.partner.example/v2/assess?key=s3cret")
    page = _text(render_report_html(_summary(system_under_test=identity.model_dump()), []))
    assert "System under test: fraud.partner.example (http)" in page
    assert "Cost per transaction (modelled)" in page


def test_the_report_says_the_reference_service_is_simulated_agents() -> None:
    identity = identify_target("http://127.0.0.1:8000/v1/score", reference=True)
    page = _text(render_report_html(_summary(system_under_test=identity.model_dump()), []))
    assert "System under test: reference service — simulated agents" in page
    assert "AI agent" not in page


def test_a_summary_from_before_the_identity_is_named_by_its_host_not_its_path() -> None:
    summary = _summary(target="http://10.1.2.3:9000/score?api_key=abc")
    del summary["system_under_test"]
    page = _text(render_report_html(summary, []))
    assert "System under test: 10.1.2.3:9000 (http)" in page


def test_the_capacity_report_names_the_system_under_test_never_its_url() -> None:
    from stresslab.judgement.capacity import capacity_report
    from stresslab.outputs.capacity_report import render_capacity_html
    from stresslab.scenario.settings import CapacitySearch

    search = CapacitySearch(start_tps=100, step_tps=100, max_tps=300, step_duration=5)
    url = "http://10.0.0.9:9000/score?key=s3cret"
    named = capacity_report(search, [], search_id="x", scenario="cap", target=url,
                            criteria=[], started_at="", ended_at="", status="aborted",
                            system_under_test=identify_target(url).model_dump())
    page = _text(render_capacity_html(named))
    assert "system under test: 10.0.0.9:9000 (http)" in page and "s3cret" not in page
    reference = {**named, "system_under_test": identify_target(
        "http://127.0.0.1:1/v1/score", reference=True).model_dump()}
    assert "system under test: reference service — simulated agents" in _text(
        render_capacity_html(reference))
