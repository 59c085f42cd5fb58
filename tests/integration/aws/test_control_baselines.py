"""The control API's baseline routes under moto: a run planned, merged and evaluated by the real
handlers, then offered as a baseline and served as a series from its timeseries.csv, the same
series the local server serves for the same batches."""

from __future__ import annotations

import json
from typing import Any

from lambdas import control_api, evaluate
from stresslab.aws.store import DynamoRunStore
from stresslab.baseline_series import run_series
from stresslab.measurement.aggregate import RunAggregator

from .sfn_harness import FakeContext
from .test_aggregator_scaling import batch, deliver, plan_workers
from .world import TABLE, World


def get(path: str, query: dict[str, str] | None = None,
        groups: str | None = "[operators]") -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "u1", "username": "ops"}
    if groups is not None:
        claims["cognito:groups"] = groups
    event = {
        "version": "2.0", "routeKey": f"GET {path}", "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "queryStringParameters": query, "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "requestId": "r1", "routeKey": f"GET {path}", "stage": "$default",
        },
        "body": None, "isBase64Encoded": False,
    }
    response = control_api.handler(event, FakeContext())
    return {"status": response["statusCode"], "body": json.loads(response["body"] or "null")}


def test_an_evaluated_run_is_a_baseline_with_the_series_the_local_server_would_serve(
        aws: World) -> None:
    # Given run A: planned, its two workers' batches merged, then evaluated (results in S3)
    plan_workers("base-a", 2, seconds=3)
    batches = [batch("base-a", f"w0-s{w}", s, ok=10 - 3 * w, errors=w, final=s == 2)
               for w in range(2) for s in range(3)]
    deliver(aws, batches)
    assert evaluate.handler({"run_id": "base-a"}, FakeContext())["status"] == "completed"
    # And run B of another scenario, still running
    plan_workers("base-b", 1, seconds=3)

    # When the page asks for baselines of A's scenario
    listing = get("/baselines", {"scenario": "base-a"})
    # Then A is offered, and the running B is not
    assert listing["status"] == 200
    assert [(b["run_id"], b["same_scenario"], b["status"]) for b in
            listing["body"]["baselines"]] == [("base-a", True, "completed")]

    # When it asks for A's series
    series = get("/runs/base-a/series")
    # Then it is the seconds as merged: both workers' answers and errors in each second
    assert series["status"] == 200
    body = series["body"]
    assert [(s["second"], s["ok"], s["errors"], s["errors_by_class"]["http_5xx"])
            for s in body["seconds"]] == [(0, 17, 1, 1), (1, 17, 1, 1), (2, 17, 1, 1)]
    assert body["phases"] == [{"name": "phase 1", "start_s": 0.0, "end_s": 3.0}]
    # And it equals what the local runtime serves for the same batches and record
    aggregator = RunAggregator("base-a", [8.0] * 3)
    aggregator.add_all(batches)
    record = DynamoRunStore(aws.client("dynamodb"), TABLE).get_run("base-a")
    local = run_series(record, [aggregator.second_row(s) for s in range(3)])
    assert body["seconds"] == local.model_dump(mode="json")["seconds"]


def test_a_running_or_unknown_run_has_no_series_and_operators_only(aws: World) -> None:
    plan_workers("base-c", 1, seconds=3)
    assert get("/runs/base-c/series") == {"status": 409, "body": {
        "error": "run_id: run base-c has not finished (status running); only a finished run "
                 "is a baseline"}}
    assert get("/runs/nope/series") == {"status": 404,
                                        "body": {"error": "run_id: no run 'nope'"}}
    for path in ("/baselines", "/runs/base-c/series"):
        assert get(path, groups="[viewers]") == {
            "status": 403, "body": {"error": "operators group required"}}
