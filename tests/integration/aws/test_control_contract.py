"""One control contract (stresslab.control): the local server and the control API Lambda accept
the same bodies and refuse the same bad ones, with the same one-line error, and answer the lists
the admin and presentation pages read in the same shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from lambdas import control_api
from stresslab.aws.planning import Ceilings, resolve_spec
from stresslab.aws.results import output_key
from stresslab.control import (
    BenchmarkList,
    ExportLink,
    FaultTypeList,
    ProfileList,
    ScenarioList,
    StartRun,
    parse_request,
)
from stresslab.local.server import RunningServer, ServerSettings, build_spec, start_server

from .test_control_api import request as lambda_request
from .world import BUCKET, World

pytestmark = pytest.mark.timeout(90)

TOKEN = "contract-token"
TARGET = "http://127.0.0.1:9/v1/score"
INLINE = {"name": "inline", "phases": [{"shape": "constant", "tps": 20, "duration": "10s"}]}

BAD_STARTS: list[tuple[Any, str]] = [
    ("{not json", "body: not valid JSON"),
    ("[1]", "body: expected a JSON object"),
    ({"scenario": "smoke", "colour": "red", "target_url": TARGET},
     "colour: Extra inputs are not permitted"),
    ({"scenario": "smoke", "time_scale": 0, "target_url": TARGET},
     "time_scale: Input should be greater than 0"),
    ({"scenario": "smoke", "load_scale": "lots", "target_url": TARGET},
     "load_scale: Input should be a valid number"),
    ({"scenario": "no-such", "target_url": TARGET}, "scenario: unknown scenario 'no-such'"),
    ({"scenario": "../../etc/passwd", "target_url": TARGET},
     "scenario: String should match pattern"),
    ({"scenario": 7, "target_url": TARGET}, "scenario: give a bundled scenario's name"),
    ({"scenario": "smoke", "tps": 50, "target_url": TARGET}, "tps, duration: give both"),
    ({"scenario": "smoke", "tps": 5, "duration": "soon", "target_url": TARGET},
     "duration: not a duration: 'soon'"),
    ({"scenario": "smoke", "target_url": "ftp://files"}, "target_url: String should match"),
    ({"scenario": "smoke", "target_url": TARGET, "target_stream": "s"},
     "target_url, target_stream: give at most one"),
    ({"scenario": {**INLINE, "phases": [{"shape": "constant", "tps": "fast", "duration": "1s"}]},
      "target_url": TARGET}, "scenario: phases.0.tps:"),
]
BAD_FAULTS: list[tuple[Any, str]] = [
    ({"type": "meteor"}, "type: Input should be"),
    ({"type": "agent_errors", "intensity": 2}, "intensity"),
    ({"type": "slow_store", "target": "compliance"}, "target:"),
    ({"type": "latency", "target": "nobody"}, "target: Input should be"),
    ({"type": "latency", "duration_s": 99_999}, "duration_s: Input should be less than"),
    ({"type": "latency", "when": "now"}, "when: Extra inputs are not permitted"),
]
GOOD_STARTS: list[dict[str, Any]] = [
    {"scenario": "smoke", "time_scale": 0.2, "load_scale": 0.2, "target_url": TARGET},
    {"scenario": "smoke", "tps": 30, "duration": "15s", "target_url": TARGET},
    {"scenario": INLINE, "load_scale": 2, "target_url": TARGET},
]


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, aiohttp.ClientSession]]:
    settings = ServerSettings(port=0, token=TOKEN, db_path=tmp_path / "runs.db",
                              results_dir=tmp_path / "results", site_dir=tmp_path / "dist")
    server = await start_server(settings)
    async with aiohttp.ClientSession() as http:
        yield server, http
    await server.stop()


async def local_call(local: tuple[RunningServer, aiohttp.ClientSession], method: str, path: str,
                     body: Any = None) -> tuple[int, Any]:
    server, http = local
    data = None if body is None else body if isinstance(body, str) else json.dumps(body)
    async with http.request(method, f"{server.url}/api{path}", data=data,
                            headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        return response.status, await response.json()


def aws_call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    answer = lambda_request(method, path, None if isinstance(body, str) else body,
                            raw=body if isinstance(body, str) else None)
    return answer["status"], answer["body"]


@pytest.mark.parametrize("body, error", BAD_STARTS)
async def test_both_runtimes_refuse_a_bad_start_with_the_same_line(
        aws: World, local: tuple[RunningServer, aiohttp.ClientSession], body: Any,
        error: str) -> None:
    local_status, local_answer = await local_call(local, "POST", "/runs", body)
    aws_status, aws_answer = aws_call("POST", "/runs", body)

    assert (local_status, aws_status) == (400, 400), (local_answer, aws_answer)
    assert local_answer == aws_answer, (local_answer, aws_answer)
    assert set(local_answer) == {"error"} and error in local_answer["error"]
    assert "\n" not in local_answer["error"]
    assert (await local_call(local, "GET", "/runs"))[1]["current"] is None
    assert aws.client("stepfunctions").list_state_machines()["stateMachines"] == []


@pytest.mark.parametrize("body, error", BAD_FAULTS)
async def test_both_runtimes_refuse_a_bad_fault_with_the_same_line(
        aws: World, local: tuple[RunningServer, aiohttp.ClientSession], body: Any,
        error: str) -> None:
    local_status, local_answer = await local_call(local, "POST", "/faults", body)
    aws_status, aws_answer = aws_call("POST", "/faults", body)

    assert (local_status, aws_status) == (400, 400), (local_answer, aws_answer)
    assert local_answer == aws_answer and error in local_answer["error"], local_answer
    assert "\n" not in local_answer["error"]
    assert aws.client("fis").list_experiments()["experiments"] == []


@pytest.mark.parametrize("body", GOOD_STARTS)
def test_both_runtimes_accept_the_same_start_as_the_same_scenario(
        aws: World, body: dict[str, Any]) -> None:
    start = parse_request(StartRun, json.dumps(body))
    local_spec = build_spec(start, ServerSettings())
    aws_spec, _ = resolve_spec(control_api.run_input_of(start, None),
                               Ceilings(max_tps=20_000, max_duration_s=7200))
    assert local_spec == aws_spec


def test_aws_without_a_target_names_the_missing_field_unless_the_stack_has_a_default(
        aws: World) -> None:
    status, answer = aws_call("POST", "/runs", {"scenario": "smoke"})
    assert status == 400 and answer["error"].startswith("target_url: give the URL to load")
    start = parse_request(StartRun, '{"scenario": "smoke"}')
    assert control_api.run_input_of(start, TARGET).target_url == TARGET


def test_aws_refuses_a_baseline_in_one_line_rather_than_ignore_it(aws: World) -> None:
    status, answer = aws_call("POST", "/runs", {"scenario": "smoke", "target_url": TARGET,
                                                "baseline": "last-pass"})
    assert status == 400 and answer["error"].startswith("baseline: the AWS runtime")
    assert "\n" not in answer["error"]


async def test_both_runtimes_answer_nothing_to_stop_and_no_run_to_fault_alike(
        aws: World, local: tuple[RunningServer, aiohttp.ClientSession],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_api._deps().runs, "running", lambda: [])
    for method, path, body in (("POST", "/runs/current/stop", None),
                               ("POST", "/faults", {"type": "latency"})):
        local_answer = await local_call(local, method, path, body)
        aws_answer = aws_call(method, path, body)
        assert local_answer == aws_answer == (409, {"error": "no run in progress"}), path


@pytest.mark.parametrize("path, model", [
    ("/scenarios", ScenarioList), ("/fault-types", FaultTypeList), ("/profiles", ProfileList),
    ("/benchmarks", BenchmarkList),
])
async def test_both_runtimes_serve_the_lists_the_pages_read_in_the_contracts_shape(
        aws: World, local: tuple[RunningServer, aiohttp.ClientSession], path: str,
        model: type[Any]) -> None:
    local_status, local_answer = await local_call(local, "GET", path)
    aws_status, aws_answer = aws_call("GET", path)

    assert (local_status, aws_status) == (200, 200), aws_answer
    model.model_validate(local_answer)
    model.model_validate(aws_answer)
    if path == "/scenarios":  # the ceilings are each runtime's own
        local_answer.pop("limits"), aws_answer.pop("limits")
    assert local_answer == aws_answer


def test_a_presentation_profile_reads_without_an_operator(aws: World) -> None:
    answer = lambda_request("GET", "/profiles/investor", groups=None)
    assert answer["status"] == 200 and "placeholders" in answer["body"]
    assert lambda_request("GET", "/profiles/ceo", groups=None)["status"] == 404
    assert lambda_request("GET", "/scenarios", groups=None)["status"] == 403


def test_an_export_link_downloads_the_file_under_the_runs_name(aws: World) -> None:
    # A browser following the link saves the file rather than leaving the admin page for it
    aws.client("s3").put_object(Bucket=BUCKET, Key=output_key("r9", "report.html"), Body=b"<p>")
    status, answer = aws_call("GET", "/runs/r9/export/report.html")
    assert status == 200 and ExportLink.model_validate(answer)
    query = parse_qs(urlsplit(answer["url"]).query)
    assert query["response-content-disposition"] == ['attachment; filename="r9-report.html"']
