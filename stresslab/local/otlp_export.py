"""The run's live metrics sent to an OpenTelemetry collector over OTLP/HTTP, once a second.

The same figures as /metrics (stresslab/local/metrics_endpoint.py), read from the live feed's
ticks and never recomputed: cumulative counters for the run's transactions, gauges for the
last second's TPS, latency quantiles, detection ratios, degradation level and fault state.
The run id and scenario are resource attributes; data-point attributes have bounded
cardinality (error class, quantile, window, measure, fault key).

It is a Broadcaster (stresslab/ports.py): a local run publishes its live messages to it as it
does to the dashboards. Exports run on a thread of their own, so a slow or absent collector
never holds up the run; a failure is told once on stderr and the run goes on."""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from stresslab.judgement.degradation import LEVELS
from stresslab.measurement.live import Tick

EXPORT_TIMEOUT_S = 3.0
QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))
COUNTERS = (
    ("stresslab.transactions.scheduled", "scheduled", "transactions due so far"),
    ("stresslab.transactions.sent", "sent", "transactions sent"),
    ("stresslab.transactions.ok", "ok", "transactions answered"),
    ("stresslab.transactions.timeouts", "timeouts", "transactions timed out"),
    ("stresslab.transactions.dropped", "dropped",
     "transactions not sent (the generator fell behind or the run shed load)"),
)
DETECTION = ("accuracy", "precision", "recall", "false_positive_rate")
# The SDK logs every failed attempt; the exporter below says it once, in stresslab's words.
QUIET_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk.metrics")


class _WarnOnce(MetricExporter):
    """The OTLP exporter, with its first failure told to the user and the rest counted."""

    def __init__(self, inner: OTLPMetricExporter, endpoint: str, stream: TextIO) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self._inner = inner
        self._endpoint = endpoint
        self._stream = stream
        self.failures = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: object) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:  # noqa: BLE001 - the run must not notice its collector
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self.failures += 1
            if self.failures == 1:
                print(f"stresslab: warning: OTLP export to {self._endpoint} failed; the run goes "
                      "on, later failures are not shown", file=self._stream, flush=True)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        self._inner.shutdown()


class OtlpExporter:
    """Exports the run's ticks to an OTLP/HTTP endpoint (e.g. http://host:4318/v1/metrics)."""

    def __init__(self, endpoint: str, scenario: str, stream: TextIO | None = None,
                 timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.endpoint = endpoint
        self.scenario = scenario
        self._stream = stream or sys.stderr
        self._timeout_s = timeout_s
        self._tick: Tick | None = None
        self._faults: list[str] = []  # every fault seen on, so its end is exported as a 0
        self._provider: MeterProvider | None = None
        self._reader: PeriodicExportingMetricReader | None = None
        self._exporter: _WarnOnce | None = None
        self._due = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def failures(self) -> int:
        return self._exporter.failures if self._exporter else 0

    def publish(self, message: str) -> None:
        """A live message from the run: a tick is exported; the run's end flushes it all."""
        data = json.loads(message)
        if data.get("type") == "tick":
            tick = Tick.model_validate(data)
            self._start(tick.run_id)
            # a new list, never one grown in place: the export thread may be reading the old
            self._faults = [*self._faults,
                            *(key for key in tick.faults_active if key not in self._faults)]
            self._tick = tick
            self._due.set()
        elif data.get("type") == "event" and data.get("event") == "run_stopped":
            self.finish()

    def finish(self) -> None:
        """The run is over: the export thread makes the final export and stops; never waits."""
        self._closing = True
        self._due.set()

    def close(self) -> None:
        """finish(), and wait for the final export (bounded by the export timeout)."""
        self.finish()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_s * 2 + 1)

    def _start(self, run_id: str) -> None:
        if self._provider is not None:
            return
        self._exporter = _WarnOnce(OTLPMetricExporter(endpoint=self.endpoint,
                                                      timeout=self._timeout_s),
                                   self.endpoint, self._stream)
        self._reader = PeriodicExportingMetricReader(
            self._exporter, export_interval_millis=math.inf,  # exported per tick, not by timer
            export_timeout_millis=self._timeout_s * 1000)
        self._provider = MeterProvider(
            resource=Resource.create({"service.name": "stresslab", "stresslab.run.id": run_id,
                                      "stresslab.scenario": self.scenario}),
            metric_readers=[self._reader])
        self._instruments(self._provider)
        self._thread = threading.Thread(target=self._export_each_tick, name="otlp-export",
                                        daemon=True)
        self._thread.start()

    def _export_each_tick(self) -> None:
        """One export per tick that came in (ticks that come while one is sent are merged),
        and after finish() one more, the final, then the provider is shut down."""
        assert self._reader is not None and self._provider is not None
        while True:
            self._due.wait()
            self._due.clear()
            closing = self._closing
            self._reader.collect(timeout_millis=self._timeout_s * 1000)
            if closing:
                self._provider.shutdown(timeout_millis=self._timeout_s * 1000)
                return

    def _instruments(self, provider: MeterProvider) -> None:
        meter = provider.get_meter("stresslab")
        for name, key, text in COUNTERS:
            meter.create_observable_counter(
                name, [self._observe(lambda tick, key=key: [({}, tick.totals[key])])],  # type: ignore[misc]
                unit="{transaction}", description=text)
        meter.create_observable_counter(
            "stresslab.transactions.errors", [self._observe(lambda tick: [
                ({"class": cls}, n) for cls, n in sorted(tick.totals["errors_by_class"].items())
            ])], unit="{transaction}", description="errors by class")
        meter.create_observable_gauge(
            "stresslab.run.elapsed", [self._observe(lambda tick: [({}, tick.elapsed_s)])],
            unit="s", description="run seconds closed and reported so far")
        meter.create_observable_gauge(
            "stresslab.tps", [self._observe(lambda tick: [
                ({"kind": "target"}, tick.window["target_tps"]),
                ({"kind": "sent"}, tick.window["sent"]), ({"kind": "ok"}, tick.window["ok"])])],
            unit="{transaction}/s", description="the last closed second: target, sent, ok")
        meter.create_observable_gauge(
            "stresslab.latency", [self._observe(_latencies)], unit="s",
            description="latency quantiles from the HDR histograms: the last closed second, "
                        "or the run so far")
        meter.create_observable_gauge(
            "stresslab.detection.ratio", [self._observe(lambda tick: [
                ({"measure": key}, tick.totals[key]) for key in DETECTION])],  # type: ignore[literal-required]
            unit="1", description="fraud detection on the labelled transactions so far")
        meter.create_observable_gauge(
            "stresslab.degradation.level", [self._observe(lambda tick: [
                ({}, LEVELS.index(tick.degradation) if tick.degradation in LEVELS else -1)])],
            unit="1", description="graceful degradation: 0 NONE, 1 MODERATE, 2 SEVERE, 3 CRITICAL")
        meter.create_observable_gauge(
            "stresslab.fault.active", [self._observe(lambda tick: [
                ({"fault": key}, int(key in tick.faults_active)) for key in self._faults])],
            unit="1", description="1 while the fault is on (each fault seen on so far)")

    def _observe(self, read: Callable[[Tick], Iterable[tuple[dict[str, str], float | None]]]
                 ) -> Callable[[CallbackOptions], Sequence[Observation]]:
        """A callback reporting the latest tick's figures; unknown ones (None) are left out."""
        def callback(_: CallbackOptions) -> Sequence[Observation]:
            tick = self._tick
            if tick is None:
                return []
            return [Observation(value, attributes) for attributes, value in read(tick)
                    if value is not None]
        return callback


def _latencies(tick: Tick) -> list[tuple[dict[str, str], float | None]]:
    found: list[tuple[dict[str, str], float | None]] = []
    for window, row in (("second", tick.window), ("run", tick.totals)):
        for quantile, key in QUANTILES:
            ms = row[key]  # type: ignore[literal-required]
            found.append(({"window": window, "quantile": quantile},
                          None if ms is None else ms / 1000))
    return found
