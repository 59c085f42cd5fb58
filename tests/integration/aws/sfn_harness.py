"""Running run_scenario.asl.json under moto's Step Functions interpreter, without Docker.

moto's interpreter (`mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`)
invokes Lambda tasks through moto's Lambda backend. With `{"lambda": {"use_docker": False}}`
that backend is `LambdaSimpleBackend`, whose `invoke` is the hook used here: it is replaced so
that an invocation calls our real handler in-process (same thread the interpreter runs the
task on), and an exception becomes a function error payload ({"errorType", "errorMessage"}),
exactly the shape the interpreter turns into the state's Error and Cause.

Two gaps of moto 5.2.5's interpreter are filled here, each in one place:
- Distributed Map ignores ToleratedFailurePercentage: it counts failed child executions and
  succeeds whatever their number (it logs that the declaration "has no effect");
  `tolerated_failures()` fails the Map with States.ExceedToleratedFailureThreshold once the
  failures exceed the percentage, as AWS does; and a States.* error from one Parallel branch
  no longer crashes moto while it stops an inline Map in a sibling branch.

Not filled: StopExecution while the fault timeline's inline Map waits ends the execution as
FAILED (a moto error while it stops the Map) where AWS reports ABORTED; the stop test says so.
- AWS SDK integrations take PascalCase parameters and return PascalCase fields; moto passes
  them to boto3 unchanged, which breaks services modelled in camelCase such as FIS.
  `aws_sdk_casing()` maps them through the botocore model both ways.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as distributed,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    iteration_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as distributed_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as aws_sdk,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

ASL_FILE = Path(__file__).resolve().parents[3] / "step_functions" / "run_scenario.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """What CDK's DefinitionBody.from_file(...) with definition_substitutions does: every
    ${Name} replaced by its value; a placeholder without a value is an error."""
    missing = sorted(set(PLACEHOLDER.findall(definition)) - set(substitutions))
    if missing:
        raise KeyError(f"no substitution for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], definition)


@dataclass
class FakeContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "req-1"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


Handler = Callable[[dict[str, Any], Any], Any]


class InProcessLambdas:
    """function name -> handler; records every invocation (name, event, outcome)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self._lock = threading.Lock()

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def invoke(self, name: str, body: bytes | str | None) -> tuple[bytes, str | None]:
        event = json.loads(body or b"{}")
        handler = self.handlers[name]
        try:
            result = handler(event, FakeContext(function_name=name))
        except Exception as error:  # noqa: BLE001 - becomes the function error, as in Lambda
            with self._lock:
                self.calls.append((name, event, f"{type(error).__name__}: {error}"))
            payload = {"errorType": type(error).__name__, "errorMessage": str(error),
                       "stackTrace": traceback.format_exception(error)[-3:]}
            return json.dumps(payload).encode(), "Unhandled"
        with self._lock:
            self.calls.append((name, event, "ok"))
        return json.dumps(result).encode(), None

    @contextlib.contextmanager
    def installed(self) -> Iterator[InProcessLambdas]:
        lambdas = self

        def invoke(
            backend: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,
            headers: Any, response_headers: dict[str, str],
        ) -> bytes:
            name = function_name.split(":function:")[-1].split(":")[0]
            payload, error = lambdas.invoke(name, body)
            if error:
                response_headers["x-amz-function-error"] = error
            return payload

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
            yield self


_ORIGINAL_MAP_RUN = distributed.DistributedIterationComponent._map_run


def _map_run_with_tolerance(self: Any, env: Any, eval_input: Any) -> None:
    """moto counts failed child executions and carries on; AWS fails the Map once they exceed
    ToleratedFailurePercentage, with States.ExceedToleratedFailureThreshold."""
    items = len(env.stack[-1])
    _ORIGINAL_MAP_RUN(self, env, eval_input)
    record = eval_input.map_run_record
    failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
    tolerated = float(record.tolerated_failure_percentage or 0.0)
    if failed and failed * 100.0 > tolerated * items:
        name = StatesErrorNameType.StatesExceedToleratedFailureThreshold
        cause = (f"The specified tolerated failure threshold was exceeded: {failed} of {items} "
                 f"items failed, {tolerated:g}% tolerated")
        raise FailureEventException(failure_event=FailureEvent(
            env=env, error_name=StatesErrorName(typ=name),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
                error=name.to_name(), cause=cause)),
        ))


class _PropagatedErrorName(ErrorName):
    """An error carried up from a child program, which may well be a States.* error."""


@contextlib.contextmanager
def tolerated_failures() -> Iterator[None]:
    # When a Parallel branch fails with a States.* error (here the Map's
    # States.ExceedToleratedFailureThreshold), moto re-wraps it as a *custom* error name, both
    # in the Parallel state and in the inline Map iteration of the stopped sibling branch (the
    # fault timeline); custom names reject the States. prefix, so the whole execution crashes
    # with States.Runtime instead of reaching the Catch.
    with mock.patch.object(distributed.DistributedIterationComponent, "_map_run",
                           _map_run_with_tolerance), \
            mock.patch.object(iteration_worker, "CustomErrorName", _PropagatedErrorName), \
            mock.patch.object(branches_decl, "CustomErrorName", _PropagatedErrorName):
        yield


def _operation(task: Any, service_action_name: str | None) -> Any:
    service = task._get_boto_service_name()
    action = service_action_name or task.resource.api_action
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(action[0].upper() + action[1:])


def _normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    self._to_boto_request(parameters, _operation(self, service_action_name).input_shape)


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    self._from_boto_response(response, _operation(self, service_action_name).output_shape)


@contextlib.contextmanager
def aws_sdk_casing() -> Iterator[None]:
    with mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_normalise_parameters",
                           _normalise_parameters, create=True), \
            mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_normalise_response",
                              _normalise_response, create=True):
        yield


class ChildOutputs:
    """What each Distributed Map child execution returned to its Map (the JSON moto's
    interpreter collects into the Map's result), in the order they ended."""

    def __init__(self) -> None:
        self.outputs: list[Any] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def recorded(self) -> Iterator[ChildOutputs]:
        original = distributed_worker.DistributedItemProcessorWorker._eval_job
        outputs = self

        def eval_job(worker: Any, env: Any, job: Any) -> None:
            original(worker, env, job)
            with outputs._lock:
                outputs.outputs.append(job.job_output)

        with mock.patch.object(distributed_worker.DistributedItemProcessorWorker, "_eval_job",
                               eval_job):
            yield self
