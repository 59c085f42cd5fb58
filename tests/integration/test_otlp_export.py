"""`stresslab run --otlp`: a real run's metrics, received over OTLP/HTTP by a receiver on
loopback that decodes them with OpenTelemetry's own protobuf types, agree with its summary."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from stresslab.cli_flags import otlp_endpoint
from stresslab.judgement.business import load_price_table
from stresslab.local.otlp_export import OtlpExporter
from stresslab.local.server import ServerSettings, start_server
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import ERROR_CLASSES, WindowStats, record_us
from stresslab.scenario.spec import parse_scenario
from tests.conftest import free_port
from tests.viewer import Viewer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(150)


@dataclass
class Receiver:
    """An OTLP/HTTP metrics receiver: every request decoded and kept, in arrival order."""

    url: str
    requests: list[ExportMetricsServiceRequest] = field(default_factory=list)

    def points(self, name: str) -> list[tuple[dict[str, str], float, bool | None]]:
        """(attributes, value, is_monotonic) of each data point named `name`, oldest first."""
        found = []
        for request in self.requests:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != name:
                            continue
                        kind = metric.WhichOneof("data")
                        data = getattr(metric, kind)
                        monotonic = data.is_monotonic if kind == "sum" else None
                        for point in data.data_points:
                            attrs = {a.key: a.value.string_value for a in point.attributes}
                            value = point.as_double if point.HasField("as_double") \
                                else point.as_int
                            found.append((attrs, float(value), monotonic))
        return found

    def series(self, clock: str, name: str) -> list[tuple[float, float]]:
        """(clock, value) of the two attribute-less metrics, one pair per request."""
        pairs = []
        for request in self.requests:
            found = Receiver("", [request])
            if found.points(clock) and found.points(name):
                pairs.append((found.points(clock)[-1][1], found.points(name)[-1][1]))
        return pairs

    def last(self, name: str, **attrs: str) -> float:
        values = [value for found, value, _ in self.points(name) if found == attrs]
        assert values, (name, attrs)
        return values[-1]

    def resources(self) -> list[dict[str, str]]:
        return [{a.key: a.value.string_value for a in resource.resource.attributes}
                for request in self.requests for resource in request.resource_metrics]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}")

    async def metrics(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        found.requests.append(message)
        return web.Response(body=ExportMetricsServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield found
    await runner.cleanup()


async def stresslab(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stresslab", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), timeout=140)
    assert process.returncode is not None
    return process.returncode, err.decode()


def test_a_base_url_gets_the_metrics_path_and_a_full_one_is_kept() -> None:
    assert otlp_endpoint("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/metrics"
    assert otlp_endpoint("http://c:4318/") == "http://c:4318/v1/metrics"
    assert otlp_endpoint("https://c/otel/v1/metrics") == "https://c/otel/v1/metrics"


@pytest.mark.parametrize("url, message", [
    ("localhost:4318", "--otlp takes an http(s) URL of an OTLP/HTTP collector"),
    ("ftp://collector:4318", "--otlp takes an http(s) URL"),
    ("http://collector:99999", "--otlp has a bad port"),
])
async def test_a_bad_url_is_one_line_exit_2_and_nothing_runs(tmp_path, url, message):
    db = tmp_path / "runs.db"
    code, err = await stresslab("run", "smoke", "--tps", "5", "--duration", "2s",
                                "--otlp", url, "--db", str(db), "--out", str(tmp_path / "out"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not db.exists() and not (tmp_path / "out").exists()
    # And the dashboard server's flag refuses it the same way, before it listens
    code, err = await stresslab("demo", "--otlp", url, "--port", "0", "--db", str(db))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not db.exists()


@pytest.mark.slow
async def test_a_real_run_exports_what_its_summary_says(receiver, tmp_path):
    # When an 8 s run at 60 TPS exports to the receiver
    out = tmp_path / "out"
    code, err = await stresslab("run", "smoke", "--tps", "60", "--duration", "8s", "--quiet",
                                "--otlp", receiver.url, "--out", str(out),
                                "--db", str(tmp_path / "runs.db"))
    assert code == 0, err
    assert "OTLP" not in err  # no warning: every export was accepted
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    # Then it exported about once a second, as the run went, and a last time at its end
    assert len(receiver.requests) >= 6
    # And the resource names the service, the run and the scenario
    assert {"service.name": "stresslab", "stresslab.run.id": summary["run_id"],
            "stresslab.scenario": "smoke"}.items() <= receiver.resources()[-1].items()
    # And the counters are cumulative sums equal to the summary's counts, exactly
    counts = summary["counts"]
    for name in ("scheduled", "sent", "ok", "timeouts"):
        points = receiver.points(f"stresslab.transactions.{name}")
        assert points and all(monotonic for _, _, monotonic in points)
        assert points[-1][1] == counts[name], name
    assert [value for _, value, _ in receiver.points("stresslab.transactions.sent")] == sorted(
        value for _, value, _ in receiver.points("stresslab.transactions.sent"))
    # And the rate of the sent counter between the first and the last export inside the run
    # (each export carries the run seconds closed so far) is the summary's TPS within 2%
    inside = [(elapsed, sent) for elapsed, sent in receiver.series(
        "stresslab.run.elapsed", "stresslab.transactions.sent")
        if 1 <= elapsed <= summary["duration_s"]]
    (first_s, first), (last_s, last) = inside[0], inside[-1]
    assert last_s - first_s >= 4, inside
    rate = (last - first) / (last_s - first_s)
    assert rate == pytest.approx(summary["load"]["achieved_tps_avg"], rel=0.02)
    print(f"otlp: sent {counts['sent']}, rate {rate:.2f}/s over {first_s:g}..{last_s:g} s; "
          f"summary {summary['load']['achieved_tps_avg']}/s")
    # And the run's latency quantiles and accuracy are there, with bounded attributes only
    p95 = receiver.last("stresslab.latency", window="run", quantile="0.95")
    assert p95 * 1000 == pytest.approx(summary["latency_ms"]["p95"], rel=0.02)
    accuracy = receiver.last("stresslab.detection.ratio", measure="accuracy")
    assert 0 < accuracy <= 1
    assert receiver.last("stresslab.degradation.level") == 0
    keys = {key for request in receiver.requests for resource in request.resource_metrics
            for scope in resource.scope_metrics for metric in scope.metrics
            for key in _attribute_keys(metric)}
    assert keys <= {"class", "kind", "window", "quantile", "measure", "fault"}


@pytest.mark.slow
async def test_an_unreachable_collector_is_told_once_and_the_run_is_not_harmed(tmp_path):
    port = free_port()  # nothing listens there
    out = tmp_path / "out"
    code, err = await stresslab("run", "smoke", "--tps", "20", "--duration", "3s", "--quiet",
                                "--otlp", f"http://127.0.0.1:{port}", "--out", str(out),
                                "--db", str(tmp_path / "runs.db"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "OTLP export" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("stresslab: warning: OTLP export to http://127.0.0.1:")
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["sent"] == summary["counts"]["ok"] == 60


def _attribute_keys(metric: Any) -> set[str]:
    data = getattr(metric, metric.WhichOneof("data"))
    return {attribute.key for point in data.data_points for attribute in point.attributes}


async def test_without_the_sdk_the_flag_says_how_to_install_it(tmp_path):
    # Given a Python where the OpenTelemetry SDK cannot be imported
    code = ("import sys; sys.modules['opentelemetry.sdk'] = None\n"
            "from stresslab.cli import main\n"
            f"sys.exit(main(['run', 'smoke', '--tps', '5', '--duration', '2s', '--otlp', "
            f"'http://127.0.0.1:4318', '--db', {str(tmp_path / 'runs.db')!r}]))")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    # Then one line names the extra to install, exit 2, and nothing ran
    assert process.returncode == 2
    assert err.decode().strip().splitlines() == [
        "stresslab: error: --otlp needs the OpenTelemetry SDK: pip install 'stresslab[otlp]'"]
    assert not (tmp_path / "runs.db").exists()


@pytest.mark.slow
async def test_the_dashboard_server_exports_each_run_it_starts(receiver, tmp_path):
    # Given the local server set to export to the receiver
    settings = ServerSettings(port=0, token="t0ken", db_path=tmp_path / "runs.db",
                              results_dir=tmp_path / "results", site_dir=tmp_path / "dist",
                              otlp_endpoint=otlp_endpoint(receiver.url))
    server = await start_server(settings)
    try:
        async with aiohttp.ClientSession() as http:
            viewer = Viewer(await http.ws_connect(f"{server.url}/ws"))
            await viewer.wait_for(lambda m: m["type"] == "snapshot")
            # When a run is started over the control API and runs to its end
            async with http.post(f"{server.url}/api/runs",
                                 headers={"Authorization": "Bearer t0ken"},
                                 json={"scenario": "smoke", "tps": 20, "duration": "3s"}) as r:
                assert r.status == 202, await r.text()
                run_id = (await r.json())["run_id"]
            await viewer.wait_for(lambda m: m["type"] == "event" and m["event"] == "run_stopped",
                                  timeout=60)
            # Then the viewers saw it as before, and the receiver got its final numbers
            last = viewer.ticks()[-1]
            for _ in range(100):
                sent = [v for _, v, _ in receiver.points("stresslab.transactions.sent")]
                if sent and sent[-1] == last["totals"]["sent"]:
                    break
                await asyncio.sleep(0.1)
            assert sent and sent[-1] == last["totals"]["sent"] == 60
            assert receiver.resources()[-1]["stresslab.run.id"] == run_id
    finally:
        await server.stop()


async def test_faults_degradation_and_errors_are_exported_as_the_ticks_carry_them(receiver):
    # Given live ticks made by the real LiveFeed: errors in second 1, a fault on in seconds
    # 1-2, the level SEVERE from second 2
    spec = parse_scenario({"name": "otlp-live", "phases": [
        {"name": "a", "shape": "constant", "tps": 10, "duration": 4}]}, "test")
    run = describe_run(spec, "r-otlp", "2026-12-03T00:00:00Z", "running", "http://t", [10.0] * 4)
    feed = LiveFeed(spec, run, load_price_table(), usd_to_currency=1.0)
    aggregator = RunAggregator(run.run_id, [10.0] * 4)
    exporter = OtlpExporter(otlp_endpoint(receiver.url), spec.name)
    for second in range(4):
        stats = WindowStats()
        stats.scheduled = stats.sent = 10
        stats.ok = 7 if second == 1 else 10
        stats.errors["http_5xx"] += 10 - stats.ok
        for i in range(stats.ok):
            record_us(stats.latency, 0.010 * (i + 1))
            stats.record_decision("approve", False, False, "legit", 10.0)
        aggregator.add(stats.to_batch(run.run_id, "w0", 0, 0, second, second))
        if second == 2:
            feed.set_degradation("SEVERE", 2.0)
        tick, _ = feed.tick(aggregator, second, faults_active=["latency@1"] if second in (1, 2)
                            else [])
        # When each tick is published to the exporter as a run publishes it
        seen = len(receiver.requests)
        exporter.publish(tick.to_json())
        for _ in range(100):
            if len(receiver.requests) > seen:
                break
            await asyncio.sleep(0.05)
        # Then each is exported on its own, at once
        assert len(receiver.requests) == seen + 1, second
        if second == 0:  # a fault is reported from the first tick it is on
            assert receiver.points("stresslab.fault.active") == []
        else:  # and, once seen, 0 after its end
            assert receiver.last("stresslab.fault.active", fault="latency@1") == (
                1 if second in (1, 2) else 0)
        assert receiver.last("stresslab.degradation.level") == (2 if second >= 2 else 0)
        assert receiver.last("stresslab.transactions.errors", **{"class": "http_5xx"}) == (
            0 if second == 0 else 3)
        assert receiver.last("stresslab.tps", kind="ok") == stats.ok
        assert receiver.last("stresslab.latency", window="second", quantile="0.95") == \
            pytest.approx(tick.window["p95_ms"] / 1000)
    assert {attrs["class"] for attrs, _, _ in receiver.points("stresslab.transactions.errors")
            } == set(ERROR_CLASSES)
    # And the run's end makes one last export, and no more after it
    exported = len(receiver.requests)
    exporter.publish(feed.event("run_stopped", 4.0, status="completed").to_json())
    await asyncio.to_thread(exporter.close)
    exporter.publish(tick.to_json())
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == exported + 1
    assert receiver.last("stresslab.transactions.ok") == 37
    assert exporter.failures == 0
