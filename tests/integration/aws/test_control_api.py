"""The control API under moto: the operators group, validation against the ceilings, routes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas import control_api
from stresslab.aws.results import output_key

from .sfn_harness import FakeContext
from .world import BUCKET, World

SCENARIO = {"name": "api", "phases": [{"shape": "constant", "tps": 100, "duration": "10s"}]}


def request(method: str, path: str, body: Any = None, groups: str | None = "[operators]",
            raw: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "u1", "username": "ops"}
    if groups is not None:
        claims["cognito:groups"] = groups
    event = {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "requestId": "r1", "routeKey": f"{method} {path}", "stage": "$default",
        },
        "body": raw if raw is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }
    response = control_api.handler(event, FakeContext())
    return {"status": response["statusCode"], "body": json.loads(response["body"] or "null")}


def test_every_route_needs_the_operators_group(aws: World) -> None:
    for method, path in (("GET", "/runs"), ("POST", "/runs"), ("POST", "/runs/x/stop"),
                         ("POST", "/faults"), ("GET", "/runs/x"),
                         ("GET", "/runs/x/export/summary.json")):
        assert request(method, path, {}, groups=None)["status"] == 403, path
        assert request(method, path, {}, groups="[viewers]")["status"] == 403, path


def test_start_is_refused_above_the_ceilings_and_on_bad_bodies(aws: World) -> None:
    too_fast = request("POST", "/runs", {"scenario": {**SCENARIO, "phases": [
        {"shape": "constant", "tps": 5000, "duration": "10s"}]}, "target_url": "http://x/"})
    too_long = request("POST", "/runs", {"scenario": {**SCENARIO, "phases": [
        {"shape": "constant", "tps": 10, "duration": "2h"}]}, "target_url": "http://x/"})
    bad_field = request("POST", "/runs", {"scenario": SCENARIO, "target_url": "http://x/",
                                          "time_scale": -1})
    bad_phase = request("POST", "/runs", {"scenario": {**SCENARIO, "phases": [
        {"shape": "constant", "tps": "fast", "duration": "10s"}]}, "target_url": "http://x/"})
    no_target = request("POST", "/runs", {"scenario": SCENARIO})
    not_json = request("POST", "/runs", raw="{oops")

    assert too_fast == {"status": 400, "body": {
        "error": "scenario: peak 5000 TPS is above the ceiling of 1000 TPS"}}
    assert too_long["status"] == 400 and "duration 7200s is above" in too_long["body"]["error"]
    assert bad_field["status"] == 400
    assert bad_field["body"]["error"].startswith("time_scale: Input should be greater than 0")
    assert bad_phase["status"] == 400 and bad_phase["body"]["error"].startswith(
        "scenario: phases.0.tps:")
    assert no_target["status"] == 400 and "target_url" in no_target["body"]["error"]
    assert not_json == {"status": 400, "body": {"error": "body: not valid JSON"}}
    executions = aws.client("stepfunctions").list_state_machines()["stateMachines"]
    assert executions == []


def test_faults_list_show_and_export(aws: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fault goes to the run that is running, as on the local server; none is running: 409
    runs = control_api._deps().runs
    monkeypatch.setattr(runs, "running", lambda: [])
    idle = request("POST", "/faults", {"type": "latency"})
    monkeypatch.setattr(runs, "running", lambda: ["r-now"])
    fault = request("POST", "/faults", {"type": "latency"})
    unknown = request("POST", "/faults", {"type": "throttle"})
    invalid = request("POST", "/faults", {"type": "meteor"})
    assert idle == {"status": 409, "body": {"error": "no run in progress"}}
    assert fault["status"] == 201
    experiment = aws.client("fis").get_experiment(id=fault["body"]["experiment_id"])
    assert experiment["experiment"]["experimentTemplateId"] == aws.templates["latency"]
    assert experiment["experiment"]["tags"]["stresslab:run_id"] == "r-now"
    assert unknown["status"] == 400 and "no FIS template for fault 'throttle'" in \
        unknown["body"]["error"]
    assert invalid["status"] == 400 and invalid["body"]["error"].startswith("type: ")

    assert request("GET", "/runs")["body"] == {"current": None, "runs": []}
    assert request("GET", "/runs/nope")["status"] == 404
    assert request("GET", "/runs/r1/export/secrets.txt")["status"] == 400
    assert request("GET", "/runs/r1/export/summary.json")["status"] == 404
    aws.client("s3").put_object(Bucket=BUCKET, Key=output_key("r1", "summary.json"), Body=b"{}")
    link = request("GET", "/runs/r1/export/summary.json")
    assert link["status"] == 200 and "runs/r1/summary.json" in link["body"]["url"]
    assert "X-Amz-Expires=300" in link["body"]["url"] or "Expires=" in link["body"]["url"]
