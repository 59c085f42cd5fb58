"""The control API under moto: the operators group, validation against the ceilings, routes."""

from __future__ import annotations

import json
import logging
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


OPERATOR_ROUTES = (("GET", "/runs"), ("POST", "/runs"), ("POST", "/runs/x/stop"),
                   ("POST", "/kill-switch"), ("DELETE", "/kill-switch"), ("POST", "/viewer-links"),
                   ("POST", "/faults"), ("GET", "/scenarios"), ("GET", "/fault-types"),
                   ("GET", "/runs/x"), ("GET", "/runs/x/export/summary.json"),
                   ("GET", "/baselines"), ("GET", "/runs/x/series"))
PUBLIC_ROUTES = (("GET", "/profiles"), ("GET", "/benchmarks"))


def test_each_operator_route_refuses_everyone_else_in_the_contract_s_words(aws: World) -> None:
    # Given callers with no groups claim, another group, or a malformed claim
    for groups in (None, "[viewers]", "operators-but-not-a-list"):
        for method, path in OPERATOR_ROUTES:
            # Then every operator route answers 403 with the contract's error body, whatever
            # the body (the check comes before parsing it)
            answer = request(method, path, raw="{oops", groups=groups)
            assert answer == {"status": 403, "body": {"error": "operators group required"}}, (
                method, path, groups)
    # And the public routes of the presentation page need no group
    for method, path in PUBLIC_ROUTES:
        assert request(method, path, groups=None)["status"] == 200, path
    # And every route of the app is one or the other
    routes = {(r.method, r.rule.pattern) for r in
              control_api.app._static_routes + control_api.app._dynamic_routes}
    assert len(routes) == len(OPERATOR_ROUTES) + len(PUBLIC_ROUTES) + 1  # + /profiles/<name>


def test_the_operator_s_name_reaches_the_route(aws: World) -> None:
    # Given a handler on the function's logger (Powertools' Logger named after the service)
    records: list[logging.LogRecord] = []
    sink = logging.Handler()
    sink.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("control_api").addHandler(sink)
    try:
        # When an operator shares a viewer link
        assert request("POST", "/viewer-links", {})["status"] == 201
    finally:
        logging.getLogger("control_api").removeHandler(sink)
    # Then the route logged who did
    assert [getattr(r, "operator", None) for r in records
            if r.getMessage() == "viewer link shared"] == ["ops"]


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
