"""The aggregator's per-second run metrics as CloudWatch EMF through Powertools Metrics: one
EMF document per ticked second, stamped with that second, dimensions RunId and Scenario."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import EphemeralMetrics

from stresslab.aws.aggregation import TickedSecond
from stresslab.aws.run_metrics import second_figures


class RunRecords(Protocol):
    def get_run(self, run_id: str) -> dict[str, Any]: ...


class RunSecondMetrics:
    """Emits each ticked second; the run's scenario and start are read once per container."""

    def __init__(self, runs: RunRecords, namespace: str | None = None) -> None:
        self._runs = runs
        self._namespace = namespace  # None: POWERTOOLS_METRICS_NAMESPACE, as the stack sets
        self._known: dict[str, tuple[str, float]] = {}

    def emit(self, ticked: Iterable[TickedSecond]) -> int:
        emitted = 0
        for second in ticked:
            tick = second.tick
            scenario, started_at = self._run(tick.run_id)
            # Ephemeral: its own metric set, apart from the handler's service-wide metrics;
            # service "" so Powertools adds no service dimension.
            metrics = EphemeralMetrics(namespace=self._namespace, service="")
            metrics.add_dimension(name="RunId", value=tick.run_id)
            metrics.add_dimension(name="Scenario", value=scenario)
            metrics.add_metadata(key="second", value=tick.second)
            metrics.add_metadata(key="partial", value=second.partial)
            metrics.set_timestamp(int((started_at + tick.second + 1) * 1000))
            for figure in second_figures(tick):
                metrics.add_metric(name=figure.name, unit=figure.unit, value=figure.value)
            metrics.flush_metrics()
            emitted += 1
        return emitted

    def _run(self, run_id: str) -> tuple[str, float]:
        known = self._known.get(run_id)
        if known is None:
            run = self._runs.get_run(run_id)
            known = self._known[run_id] = (str(run["spec"]["name"]),
                                           float(run["run_started_at"]))
        return known
