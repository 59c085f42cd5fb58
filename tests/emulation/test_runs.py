"""Runs through the emulated AWS: an operator starts them on the gateway's control API, moto
executes the state machine, the real generators load the reference service, and the summary
lands in the emulated bucket."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from stresslab.aws.results import output_key
from tests.conftest import Nginx
from tests.viewer import Viewer

from .system import AwsLocal

pytestmark = pytest.mark.slow


class Operator:
    """The control API as the admin page calls it: through the gateway, with a Cognito JWT."""

    def __init__(self, aws: AwsLocal, session: aiohttp.ClientSession) -> None:
        assert aws.operator is not None
        self.aws, self.session = aws, session
        self.token = aws.sign_in(aws.operator)["IdToken"]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
                method, self.aws.urls.api + path, json=body,
                headers={"Authorization": f"Bearer {self.token}"}) as response:
            return response.status, await response.json(content_type=None)

    async def start(self, run_input: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.call("POST", "/runs", run_input)
        assert status == 202, body
        return dict(body)

    async def viewer(self) -> Viewer:
        status, link = await self.call("POST", "/viewer-links", {})
        assert status == 201, link
        token = parse_qs(urlsplit(link["url"]).query.replace("#", "&") or
                         urlsplit(link["url"]).fragment)["token"][0]
        socket = await self.session.ws_connect(f"{self.aws.urls.websocket}?token={token}")
        return Viewer(socket)


async def finished(aws: AwsLocal, execution_arn: str, timeout_s: float = 240) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = await asyncio.to_thread(sfn.describe_execution, executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        await asyncio.sleep(0.5)
    raise AssertionError(f"{execution_arn} still running after {timeout_s}s")


def summary_of(aws: AwsLocal, run_id: str) -> dict[str, Any]:
    bucket = next(f.environment["RESULTS_BUCKET"] for f in aws.account.functions.values()
                  if "RESULTS_BUCKET" in f.environment)
    body = aws.client("s3").get_object(Bucket=bucket, Key=output_key(run_id, "summary.json"))
    return dict(json.loads(body["Body"].read()))


def assert_reconciles(aws: AwsLocal, run_id: str, summary: dict[str, Any],
                      received: int | None = None) -> dict[str, Any]:
    """scheduled = sent + dropped, sent = ok + errors + timeouts, and the target's own count
    (the reference service's, unless given) = sent - undelivered (requests that never left
    their generator: no connection in time on a busy machine)."""
    counts = summary["counts"]
    if received is None:
        received = aws.on_service_loop(aws.reference.received(run_id))
    assert counts["scheduled"] == counts["sent"] + counts["dropped"], counts
    assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"], counts
    assert received == counts["sent"] - counts["undelivered"], (
        received, counts["sent"], counts["undelivered"], counts["errors_by_class"])
    return dict(counts)


async def test_an_operator_runs_smoke_and_a_viewer_sees_it_live(aws_local: AwsLocal) -> None:
    async with aiohttp.ClientSession() as session:
        operator = Operator(aws_local, session)
        viewer = await operator.viewer()
        # When an operator starts smoke, scaled down, against the reference service
        started = await operator.start({"scenario": "smoke", "time_scale": 0.25,
                                        "load_scale": 0.5,
                                        "target_url": aws_local.reference.score_url})
        run_id = started["run_id"]
        done = await finished(aws_local, started["execution_arn"])
        await viewer.wait_for(lambda m: m["type"] == "tick" and m.get("run_id") == run_id,
                              timeout=30)
        await viewer.close()

    # Then the execution succeeded, and its summary in the bucket reconciles with the target
    assert done["status"] == "SUCCEEDED", done
    summary = summary_of(aws_local, run_id)
    counts = assert_reconciles(aws_local, run_id, summary)
    assert counts["sent"] > 0 and counts["reconciled"] is True
    assert summary["passed"] is True, summary
    # And the viewer was sent the run's seconds as they closed
    assert len(viewer.seconds(run_id)) >= 2


async def test_a_fault_on_the_timeline_reaches_the_reference_service(
        aws_local: AwsLocal) -> None:
    scenario = {
        "name": "fault-check", "workers": 2, "seed": 5,
        "phases": [{"name": "steady", "shape": "constant", "tps": 40, "duration": "12s"}],
        "criteria": ["lost == 0"],
        "faults": [{"type": "agent_down", "at": "3s", "duration": "4s"}],
    }
    seen: list[list[dict[str, Any]]] = []
    async with aiohttp.ClientSession() as session:
        started = await Operator(aws_local, session).start(
            {"scenario": scenario, "target_url": aws_local.reference.score_url})
        run_id = started["run_id"]
        waiting = asyncio.create_task(finished(aws_local, started["execution_arn"]))
        while not waiting.done():
            faults = aws_local.on_service_loop(
                aws_local.reference.admin.call("GET", "/admin/faults"))
            seen.append(faults if isinstance(faults, list) else faults.get("faults", []))
            await asyncio.sleep(0.5)
        done = await waiting

    assert done["status"] == "SUCCEEDED", done
    # The experiment started and stopped, and the reference service had the fault meanwhile
    experiments = [e for e in aws_local.client("fis").list_experiments()["experiments"]
                   if e.get("tags", {}).get("stresslab:run_id") == run_id]
    assert len(experiments) == 1
    changes = [e.change for e in aws_local.carrier.timeline
               if e.experiment_id == experiments[0]["id"]]
    assert changes == ["started", "stopped"], changes
    assert any(any(f.get("type") == "agent_down" for f in snapshot) for snapshot in seen), seen
    assert seen[-1] == [] or all(f.get("type") != "agent_down" for f in seen[-1])
    # And the summary saw it: detected, and recovered once it ended
    summary = summary_of(aws_local, run_id)
    assert_reconciles(aws_local, run_id, summary)
    fault = summary["faults"][0]
    assert fault["type"] == "agent_down" and fault["timing"] is not None, fault
    assert fault["detected_at_s"] is not None and fault["recovered_at_s"] is not None, fault


async def test_twenty_generators_at_2000_tps_reconcile(aws_local: AwsLocal,
                                                      wide_nginx: Nginx) -> None:
    # nginx, not the reference service: on two shared cores a Python target at 2,000 TPS
    # times out requests before reading them, and this test is about the fan-out and the
    # pipeline (the smoke and fault runs use the reference service).
    scenario = {
        "name": "wide", "workers": 20, "seed": 7,
        "phases": [{"name": "steady", "shape": "constant", "tps": 2000, "duration": "10s"}],
        "criteria": ["lost == 0"],
    }
    async with aiohttp.ClientSession() as session:
        started = await Operator(aws_local, session).start(
            {"scenario": scenario, "target_url": wide_nginx.url})
        done = await finished(aws_local, started["execution_arn"], timeout_s=300)
    assert done["status"] == "SUCCEEDED", done
    run_id = started["run_id"]
    generators = [i for i in aws_local.runtime.invocations
                  if aws_local.account.functions[i.function].handler
                  == "lambdas.load_generator.handler"]
    assert len(generators) >= 20
    counts = assert_reconciles(aws_local, run_id, summary_of(aws_local, run_id),
                               received=wide_nginx.requests_received())
    assert counts["scheduled"] == 20_000, counts


async def test_stop_mid_fault_ends_the_run_and_clears_the_fault(aws_local: AwsLocal) -> None:
    # Given a run whose fault is on the reference service
    scenario = {
        "name": "stop-check", "workers": 2, "seed": 9,
        "phases": [{"name": "steady", "shape": "constant", "tps": 20, "duration": "60s"}],
        "criteria": ["lost == 0"],
        "faults": [{"type": "latency", "target": "compliance", "at": "1s", "duration": "50s"}],
    }

    def faults_on_target() -> list[dict[str, Any]]:
        answer = aws_local.on_service_loop(aws_local.reference.admin.call("GET", "/admin/faults"))
        return list(answer if isinstance(answer, list) else answer.get("faults", []))

    async with aiohttp.ClientSession() as session:
        operator = Operator(aws_local, session)
        started = await operator.start(
            {"scenario": scenario, "target_url": aws_local.reference.score_url})
        deadline = time.monotonic() + 60
        while not faults_on_target() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert faults_on_target(), "the fault never reached the reference service"
        # When the operator presses Stop
        status, stopped = await operator.call("POST", "/runs/current/stop")
        assert status == 200, stopped
        done = await finished(aws_local, started["execution_arn"], timeout_s=60)

    # Then the execution ended, its experiment was stopped, and the target has no fault left
    assert done["status"] in ("ABORTED", "FAILED"), done  # moto: FAILED (see sfn_harness)
    assert stopped["run_id"] == started["run_id"] and stopped["experiments_stopped"], stopped
    deadline = time.monotonic() + 10
    while faults_on_target() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert faults_on_target() == []
    changes = [e.change for e in aws_local.carrier.timeline
               if e.experiment_id in stopped["experiments_stopped"]]
    assert changes == ["started", "stopped"], changes
