"""/metrics on the local server, scraped by a real Prometheus (Debian's package) on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stresslab.local.metrics_endpoint import render_metrics
from stresslab.local.server import RunningServer
from tests.conftest import free_port
from tests.viewer import Viewer

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROMETHEUS = shutil.which("prometheus")
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "stresslab-dashboard.json"
METRIC_NAME = re.compile(r"\bstresslab_[a-z_]+")
LABEL_VALUES = re.compile(r"label_values\((?P<selector>[^,]+), (?P<label>\w+)\)")
FAULTED_SMOKE = {
    "name": "smoke", "description": "smoke at 80 TPS with a short latency fault", "workers": 2,
    "phases": [{"name": "steady", "shape": "constant", "tps": 80, "duration": "16s"}],
    "faults": [{"type": "latency", "label": "latency spike", "target": "geographic_risk",
                "at": "6s", "duration": "4s", "intensity": 20}],
}


@pytest.fixture
def prometheus(server: RunningServer, tmp_path: Path) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: make system (Debian's prometheus package)")
    target = server.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: stresslab\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n")
    port = free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the Grafana dashboard's panels."""
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def dashboard_variables() -> list[tuple[str, str]]:
    """(label, series selector) of each label_values(selector, label) variable."""
    board = json.loads(DASHBOARD.read_text())
    found = []
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert match, variable["query"]
            found.append((match["label"], match["selector"]))
    return found


async def label_values(http: aiohttp.ClientSession, url: str, label: str,
                       selector: str) -> list[str]:
    """What Grafana asks Prometheus for a label_values() variable (scenario: any, `.*`)."""
    selector = selector.replace("$scenario", ".*")
    async with http.get(f"{url}/api/v1/label/{label}/values",
                        params={"match[]": selector}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return list(body["data"])


async def until_ready(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with http.get(f"{url}/-/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"prometheus at {url} never became ready")


async def query(http: aiohttp.ClientSession, url: str, promql: str,
                at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql} if at is None else {"query": promql, "time": str(at)}
    async with http.get(f"{url}/api/v1/query", params=params) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def scalar(http: aiohttp.ClientSession, url: str, promql: str,
                 at: float | None = None) -> float:
    result = await query(http, url, promql, at)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


async def test_without_a_run_metrics_say_so_and_foreign_hosts_are_refused(server, http):
    async with http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    assert "stresslab_up 0" in text.splitlines() and "run_id" not in text
    async with http.get(f"{server.url}/metrics", headers={"Host": "evil.example"}) as response:
        assert response.status == 403


def test_label_values_are_escaped_and_unknown_numbers_left_out() -> None:
    from stresslab.measurement.live import LiveRun

    run = LiveRun(run_id="r1", scenario='odd "name"\\x\n', description="", status="running",
                  started_at="", duration_s=1, time_scale=1, load_scale=1, peak_tps=5,
                  target="", currency="USD", phases=[], faults=[], criteria=[],
                  expected_per_second=[])
    text = render_metrics(run, None)
    assert 'scenario="odd \\"name\\"\\\\x\\n"' in text
    assert "stresslab_latency_seconds" not in text  # no tick yet: nothing made up


@pytest.mark.slow
async def test_a_real_prometheus_scrapes_a_live_run_and_agrees_with_its_summary(
        server, http, prometheus, tmp_path):
    # Given Prometheus scraping /metrics every second
    await until_ready(http, prometheus)
    viewer = Viewer(await http.ws_connect(f"{server.url}/ws"))
    await viewer.wait_for(lambda m: m["type"] == "snapshot")
    # When a 16 s run at 80 TPS, with a latency fault from 6 s to 10 s, runs to its end
    async with http.post(f"{server.url}/api/runs", headers=AUTH, data=json.dumps(
            {"scenario": FAULTED_SMOKE})) as response:
        assert response.status == 202, await response.text()
        run_id = (await response.json())["run_id"]
    live = f'run_id="{run_id}"'
    mid_run: list[dict[str, Any]] = []
    for _ in range(100):  # seen by Prometheus while the run is live
        mid_run = await query(http, prometheus, f"stresslab_tps{{{live},kind=\"ok\"}}")
        if mid_run and float(mid_run[0]["value"][1]) > 0:
            break
        await asyncio.sleep(0.2)
    assert mid_run and mid_run[0]["metric"]["scenario"] == "smoke"
    await viewer.wait_for(lambda m: m["type"] == "event" and m["event"] == "run_stopped",
                          timeout=60)
    async with http.get(f"{server.url}/api/runs/{run_id}/export/summary.json",
                        headers=AUTH) as response:
        summary = json.loads(await response.text())
    last = viewer.ticks()[-1]
    scraped_last = 0.0
    for _ in range(50):  # the last tick scraped
        seen = await query(http, prometheus, f"stresslab_run_elapsed_seconds{{{live}}}")
        if seen and float(seen[0]["value"][1]) == last["elapsed_s"]:
            scraped_last = float(seen[0]["value"][0])
            break
        await asyncio.sleep(0.2)
    assert scraped_last, "Prometheus never scraped the run's last tick"

    # Then the counters Prometheus holds are the run's own, exactly
    sent = await scalar(http, prometheus, f"max_over_time(stresslab_transactions_sent_total"
                                          f"{{{live}}}[5m])")
    ok = await scalar(http, prometheus, f"max_over_time(stresslab_transactions_ok_total"
                                        f"{{{live}}}[5m])")
    assert sent == summary["counts"]["sent"] and ok == summary["counts"]["ok"]
    # And PromQL's rate() of the sent counter, its median over the windows that lie wholly
    # inside the run (ticks and scrapes are both once a second: a window may hold one tick
    # more or less), is the summary's achieved TPS within 2%
    achieved = summary["load"]["achieved_tps_avg"]
    over_run = f"{summary['duration_s'] - 7:.0f}s:1s"  # windows of 6 s, from 1 s in
    rate = await scalar(http, prometheus, f"quantile_over_time(0.5, rate(stresslab_transactions"
                                          f"_sent_total{{{live}}}[6s])[{over_run}])",
                        at=scraped_last)
    assert rate == pytest.approx(achieved, rel=0.02)
    print(f"prometheus: sent {sent:.0f}, rate() median {rate:.2f}/s; summary {achieved}/s")
    # And the latency quantiles and accuracy are there, with no per-transaction labels
    quantiles = await query(http, prometheus, f"stresslab_latency_seconds{{{live}}}")
    assert {(q["metric"]["window"], q["metric"]["quantile"]) for q in quantiles} >= {
        ("run", "0.5"), ("run", "0.95"), ("run", "0.99")}
    p95 = next(q for q in quantiles if q["metric"] == {**q["metric"], "window": "run",
                                                         "quantile": "0.95"})
    assert float(p95["value"][1]) * 1000 == pytest.approx(last["totals"]["p95_ms"])
    names = await query(http, prometheus, f"count by (__name__) ({{{live}}})")
    assert len(names) >= 10
    label_names = {key for series in await query(http, prometheus, f"{{{live}}}")
                   for key in series["metric"]}
    assert label_names <= {"__name__", "job", "instance", "scenario", "run_id", "status",
                           "class", "kind", "window", "quantile", "measure", "fault"}
    # And every query of the Grafana dashboard in docs/ has data for this run, and every
    # metric it names is on /metrics
    for variable, promql in dashboard_variables():
        values = await label_values(http, prometheus, variable, promql)
        assert {"scenario": "smoke", "run_id": run_id}[variable] in values, (variable, values)
    for expr in dashboard_queries():
        promql = expr.replace("$scenario", "smoke").replace("$run_id", run_id).replace(
            "$__rate_interval", "4s")
        assert await query(http, prometheus, promql, at=scraped_last), expr
    async with http.get(f"{server.url}/metrics") as response:
        exposed = {line.split()[2] for line in (await response.text()).splitlines()
                   if line.startswith("# TYPE ")}
    named = {name for expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    assert named and named <= exposed, named - exposed
    assert {"stresslab_fault_active", "stresslab_degradation_level",
            "stresslab_transactions_errors_total", "stresslab_run_info"} <= named
