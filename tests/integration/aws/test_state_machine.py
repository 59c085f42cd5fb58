"""run_scenario.asl.json executed by moto's Step Functions interpreter, Lambdas in-process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto.fis.exceptions import ResourceNotFoundException as FisNotFound
from moto.fis.models import FISBackend

from lambdas import aggregator, cleanup, control_api, evaluate, load_generator, plan
from stresslab.aws.faults import ACTIVE_STATES, RUN_TAG, STACK_TAG
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.store import DynamoRunStore, RunNotFound

from .sfn_harness import (
    ASL_FILE,
    ChildOutputs,
    FakeContext,
    InProcessLambdas,
    aws_sdk_casing,
    substitute,
    tolerated_failures,
)
from .world import ACCOUNT, REGION, TABLE, ScoreServer, World

STACK_NAME = "stresslab-test"
FUNCTIONS = {"plan": plan.handler, "load-generator": load_generator.handler,
             "evaluate": evaluate.handler, "cleanup": cleanup.handler}


def scenario(seconds: int, tps: int = 30, faults: list[dict[str, Any]] | None = None) -> dict:
    return {"name": "sfn-test", "workers": 2, "seed": 3,
            "phases": [{"name": "steady", "shape": "constant", "tps": tps,
                        "duration": f"{seconds}s"}],
            "criteria": ["lost == 0"], "faults": faults or []}


@dataclass
class Machine:
    world: World
    arn: str
    lambdas: InProcessLambdas
    children: ChildOutputs

    @property
    def sfn(self) -> Any:
        return self.world.client("stepfunctions")

    def start(self, run_id: str, run_input: dict[str, Any]) -> str:
        return str(self.sfn.start_execution(stateMachineArn=self.arn, name=run_id,
                                            input=json.dumps(run_input))["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.1)
        raise AssertionError(f"{execution_arn} still running after {timeout}s")

    def history(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
        return [e["type"] for e in events["events"]]

    def experiments(self, run_id: str) -> list[dict[str, Any]]:
        listed = self.world.client("fis").list_experiments()["experiments"]
        return [e for e in listed if e.get("tags", {}).get(RUN_TAG) == run_id]


class StreamPump:
    """What Lambda's Kinesis event source mapping does: poll the stream, invoke the aggregator."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failures: list[Any] = []

    def _run(self) -> None:
        while not self._stop.is_set():
            records = self._world.read_stream()
            if records:
                response = aggregator.handler(self._world.kinesis_event(records), FakeContext())
                self.failures += response["batchItemFailures"]
            self._stop.wait(0.2)

    def __enter__(self) -> StreamPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def machine(aws: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    # The generators' CPU here is this whole process's (moto, the interpreter, the target):
    # not a saturated generator, so it must not make the run "invalid".
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    iam = aws.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws.client("lambda")
    arns = {}
    for name in FUNCTIONS:
        arns[name] = lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler=f"lambdas.{name}.handler",
            Code={"ZipFile": b"in-process"},
        )["FunctionArn"]
    definition = substitute(ASL_FILE.read_text(), {
        "PlanFunctionArn": arns["plan"], "LoadGeneratorFunctionArn": arns["load-generator"],
        "EvaluateFunctionArn": arns["evaluate"], "CleanupFunctionArn": arns["cleanup"],
        "RunTableName": TABLE, "StackName": STACK_NAME,
    })
    arn = aws.client("stepfunctions").create_state_machine(
        name="run-scenario", definition=definition, roleArn=role)["stateMachineArn"]
    assert arn == aws.env["STATE_MACHINE_ARN"]
    lambdas = InProcessLambdas()
    for name, handler in FUNCTIONS.items():
        lambdas.register(name, handler)
    with lambdas.installed(), tolerated_failures(), aws_sdk_casing(), \
            ChildOutputs().recorded() as children:
        yield Machine(aws, arn, lambdas, children)


def operator_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"sub": "u1", "username": "ops",
                                              "cognito:groups": "[operators]"}, "scopes": None}},
            "requestId": "r1", "routeKey": f"{method} {path}", "stage": "$default",
        },
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }


def test_happy_path_runs_waves_faults_and_evaluates(
    machine: Machine, score_server: ScoreServer
) -> None:
    # Given a short scenario with one fault that has a FIS template
    fault = {"type": "latency", "target": "geographic_risk", "at": "1s", "duration": "1s"}
    started = control_api.handler(operator_event("POST", "/runs", {
        "scenario": scenario(3, faults=[fault]), "target_url": score_server.url,
    }), FakeContext())
    assert started["statusCode"] == 202, started
    run_id = json.loads(started["body"])["run_id"]

    # When the execution runs, with the aggregator fed from the stream
    with StreamPump(machine.world) as pump:
        done = machine.wait(json.loads(started["body"])["execution_arn"])

    # Then it succeeded through Evaluate, the fault was started and stopped, counts reconcile
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["status"] == "completed" and output["passed"] is True
    assert pump.failures == []
    assert "MapRunSucceeded" in machine.history(done["executionArn"])
    experiments = machine.experiments(run_id)
    assert len(experiments) == 1 and experiments[0]["state"]["status"] in ("stopping", "stopped")
    assert experiments[0]["tags"][STACK_TAG] == STACK_NAME  # what the stack's grants require
    # The Distributed Map's children return nothing: 1,000 results would pass 256 KB
    assert machine.children.outputs == [{}, {}]
    run = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run(run_id)
    assert run["status"] == "completed"
    counts = run["summary"]["counts"]
    assert counts["scheduled"] == 90 == counts["sent"] + counts["dropped"]
    assert counts["sent"] == score_server.received == counts["ok"]
    assert counts["reconciled"] is True


def test_faults_fis_fails_to_start_or_stop_are_recorded_and_the_run_goes_on(
    machine: Machine, score_server: ScoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run with two faults: FIS does not know the first's template (it fails to start),
    # and refuses to stop the second
    templates = {**machine.world.templates, "agent_down": "EXTnotthere0000"}
    monkeypatch.setenv("FAULT_TEMPLATES", json.dumps(templates))
    monkeypatch.setattr(FISBackend, "stop_experiment", _stop_refused)
    faults = [{"type": "agent_down", "at": "0s", "duration": "1s"},
              {"type": "latency", "at": "1s", "duration": "1s"}]
    arn = machine.start("fis-fails-1", {"scenario": scenario(3, faults=faults),
                                        "target_url": score_server.url})

    # When it runs
    with StreamPump(machine.world):
        done = machine.wait(arn)

    # Then the run still succeeds through Evaluate, with every transaction sent
    assert done["status"] == "SUCCEEDED", done
    run = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run("fis-fails-1")
    assert run["status"] == "completed"
    assert run["summary"]["counts"]["scheduled"] == 90 == score_server.received

    # And the summary names each failed fault, how it failed and FIS's error
    windows = {w["key"]: w for w in run["summary"]["faults"]}
    down, latency = windows["agent_down:all"], windows["latency:all"]
    assert down["status"] == "failed to start with AWS FIS"
    assert "ResourceNotFoundException" in down["error"] and "EXTnotthere0000" in down["error"]
    assert down["start_s"] is None and down["passed"] is None  # never injected, not judged
    assert latency["status"].startswith("failed to stop with AWS FIS")
    assert "ResourceNotFoundException" in latency["error"]
    # (the one FIS would not stop is still active: cleanup and its backstop are what end it)
    assert [e["state"]["status"] in ACTIVE_STATES
            for e in machine.experiments("fis-fails-1")] == [True]


def _stop_refused(self: FISBackend, id: str) -> Any:
    raise FisNotFound(f"Experiment {id} does not exist")


def test_worker_failure_within_tolerance_is_reported_not_fatal(
    machine: Machine, score_server: ScoreServer
) -> None:
    # Given shard 1's generator crashes, and the run tolerates half its workers failing
    def crashing(event: dict[str, Any], context: Any) -> Any:
        if event["item"]["shard"] == 1:
            raise RuntimeError("generator crashed")
        return load_generator.handler(event, context)

    machine.lambdas.register("load-generator", crashing)
    arn = machine.start("tolerated-1", {"scenario": scenario(2), "target_url": score_server.url,
                                        "tolerated_failure_pct": 50})

    # When it runs
    with StreamPump(machine.world):
        done = machine.wait(arn)

    # Then the run still succeeds, and the summary names the failed worker and the gap
    assert done["status"] == "SUCCEEDED", done
    summary = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run(
        "tolerated-1")["summary"]
    assert summary["workers_report"]["failed"] == ["w0-s1"]
    assert summary["counts"]["scheduled"] == 30
    assert any("never scheduled" in note for note in summary["notes"])


def test_stop_ends_the_run_and_cleans_up(machine: Machine, score_server: ScoreServer) -> None:
    # Given a longer run whose fault has started
    fault = {"type": "agent_errors", "at": "0s", "duration": "60s"}
    arn = machine.start("stopped-1", {"scenario": scenario(30, faults=[fault]),
                                      "target_url": score_server.url})
    with StreamPump(machine.world):
        _wait_for(lambda: machine.experiments("stopped-1") and score_server.received > 10)

        # When an operator stops it through the control API
        stopped = control_api.handler(operator_event("POST", "/runs/stopped-1/stop"),
                                      FakeContext())
        done = machine.wait(arn)
        _wait_for(lambda: len([c for c in machine.lambdas.calls if c[0] == "load-generator"])
                  == 2, timeout=15)

    # Then the execution is aborted, the experiment stopped, the status recorded, and the
    # generators stopped early on the kill switch
    assert stopped["statusCode"] == 200, stopped
    assert json.loads(stopped["body"])["status"] == "aborted"
    # (AWS reports ABORTED; moto 5.2.5 errs while stopping the waiting fault Map: FAILED)
    assert done["status"] in ("ABORTED", "FAILED")
    assert "ExecutionSucceeded" not in machine.history(arn)
    assert not [c for c in machine.lambdas.calls if c[0] == "evaluate"]
    assert [e["state"]["status"] for e in machine.experiments("stopped-1")] == ["stopping"]
    run = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run("stopped-1")
    assert run["status"] == "aborted" and run["error"]["error"] == "RunStopped"
    outcomes = [c[2] for c in machine.lambdas.calls if c[0] == "load-generator"]
    assert all(o.startswith("RunStopped") for o in outcomes), outcomes
    assert score_server.received < 30 * 30 // 2


def test_kill_switch_fails_the_run_through_cleanup(
    machine: Machine, score_server: ScoreServer
) -> None:
    # Given a running run with an active fault
    fault = {"type": "latency", "at": "0s", "duration": "60s"}
    arn = machine.start("killed-1", {"scenario": scenario(30, faults=[fault]),
                                     "target_url": score_server.url})
    with StreamPump(machine.world):
        _wait_for(lambda: machine.experiments("killed-1") and score_server.received > 10)

        # When the kill switch names it (its stop flag is written straight to the table)
        StopFlags(machine.world.client("dynamodb"), TABLE).trip("killed-1", by="console")
        done = machine.wait(arn)

    # Then the Catch led through Cleanup to Fail: experiment stopped, status aborted
    assert done["status"] == "FAILED" and done["error"] == "RunStopped", done
    history = machine.history(arn)
    assert "ExecutionFailed" in history
    assert [e["state"]["status"] for e in machine.experiments("killed-1")] == ["stopping"]
    assert any(c[0] == "cleanup" and c[2] == "ok" for c in machine.lambdas.calls)
    run = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run("killed-1")
    assert run["status"] == "aborted"


def test_bad_input_fails_with_the_plan_functions_one_line_error(machine: Machine) -> None:
    # Given an input above the TPS ceiling
    arn = machine.start("bad-1", {"scenario": scenario(3, tps=5000),
                                  "target_url": "http://127.0.0.1:9/v1/score"})

    # When it runs
    done = machine.wait(arn)

    # Then it fails at once with the one-line reason as Cause, and nothing was recorded
    assert done["status"] == "FAILED"
    assert done["error"] == "BadInput"
    assert done["cause"] == "scenario: peak 5000 TPS is above the ceiling of 1000 TPS"
    with pytest.raises(RunNotFound):
        DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run("bad-1")
    assert [c[0] for c in machine.lambdas.calls] == ["plan"]


def _wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


assert REGION and ACCOUNT
