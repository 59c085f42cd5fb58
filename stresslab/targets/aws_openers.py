"""Openers of the AWS-native kinds (lambda, stepfunctions-express, kinesis, sqs) for the factory.

The adapters import boto3; they are imported when such a target is opened, so a run against
an http target never loads the SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from stresslab.ports import Target
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.config import (
    KinesisTarget,
    LambdaTarget,
    SqsTarget,
    StepFunctionsExpressTarget,
)
from stresslab.targets.secrets import Secrets
from stresslab.targets.sender import body_renderer
from stresslab.targets.template import RenderBody

if TYPE_CHECKING:  # the adapters import boto3; they load when such a target opens
    from stresslab.targets.aws_calls import SyncCallTarget

CHECK_TIMEOUT_S = 10.0
AwsTarget = LambdaTarget | StepFunctionsExpressTarget | KinesisTarget | SqsTarget


class AwsTargetContext(Protocol):
    """What the AWS openers read of the factory's TargetContext."""

    settings: HttpSettings
    secrets: Secrets
    aws_session: Any


def _calls_at_once(settings: HttpSettings) -> int:
    # one SDK call holds a thread and a pooled connection until its answer
    return min(settings.max_in_flight, settings.connections)


def _timeout(section: Any, settings: HttpSettings) -> float:
    return float(section.timeout or settings.timeout)


@asynccontextmanager
async def _open_sync_call(
    section: LambdaTarget | StepFunctionsExpressTarget, context: AwsTargetContext,
    service: str, adapter: Callable[[Any, Any, RenderBody, int], SyncCallTarget],
) -> AsyncIterator[Target]:
    from stresslab.targets.aws_calls import aws_client

    timeout = _timeout(section, context.settings)
    section = section.model_copy(update={"timeout": timeout})
    width = _calls_at_once(context.settings)
    client = aws_client(service, width, timeout, session=context.aws_session)
    render = body_renderer(section.request, context.secrets)
    async with adapter(section, client, render, width) as target:
        yield target


def open_lambda(
    section: LambdaTarget, context: AwsTargetContext
) -> AbstractAsyncContextManager[Target]:
    from stresslab.targets.aws_lambda import LambdaInvokeTarget

    return _open_sync_call(section, context, "lambda", LambdaInvokeTarget)


def open_express(
    section: StepFunctionsExpressTarget, context: AwsTargetContext
) -> AbstractAsyncContextManager[Target]:
    from stresslab.targets.aws_stepfunctions import ExpressWorkflowTarget

    return _open_sync_call(section, context, "stepfunctions", ExpressWorkflowTarget)


@asynccontextmanager
async def open_stream(
    section: KinesisTarget | SqsTarget, context: AwsTargetContext
) -> AsyncIterator[Target]:
    from stresslab.targets.aws_calls import aws_client
    from stresslab.targets.aws_streams import PUT_THREADS, Clients, StreamTarget

    timeout = _timeout(section, context.settings)
    section = section.model_copy(update={"timeout": timeout})
    outcome = section.outcome
    needed = {"kinesis" if isinstance(section, KinesisTarget) else "sqs"}
    needed |= {name for name in ("kinesis", "sqs", "dynamodb") if getattr(outcome, name)}
    clients = Clients(**{
        service: aws_client(service, PUT_THREADS * 2, timeout, session=context.aws_session)
        for service in needed
    })
    render = body_renderer(section.request, context.secrets)
    async with StreamTarget(section, clients, render) as target:
        yield target


def check_aws_target(section: AwsTarget, secrets: Secrets, session: Any = None) -> None:
    """Before a run: the body's secrets resolve, and what the section names exists.

    TargetConfigError (TargetUnavailable) or SecretError, one line naming the field. A function
    or workflow we may not describe is not refused here: only one that does not exist.
    """
    from stresslab.targets.aws_calls import aws_client, check_usable
    from stresslab.targets.aws_streams import Clients, check_stream_resources

    body_renderer(section.request, secrets)
    if isinstance(section, LambdaTarget):
        lambdas = aws_client("lambda", 1, CHECK_TIMEOUT_S, session=session)
        qualifier = {"Qualifier": section.qualifier} if section.qualifier else {}
        check_usable(
            f"target.function: Lambda function {section.function!r}",
            lambda: lambdas.get_function_configuration(FunctionName=section.function,
                                                       **qualifier),
            not_found_only=frozenset({"ResourceNotFoundException"}),
        )
    elif isinstance(section, StepFunctionsExpressTarget):
        machines = aws_client("stepfunctions", 1, CHECK_TIMEOUT_S, session=session)
        check_usable(
            f"target.state_machine_arn: state machine {section.state_machine_arn}",
            lambda: machines.describe_state_machine(stateMachineArn=section.state_machine_arn),
            not_found_only=frozenset({"StateMachineDoesNotExist"}),
        )
    else:
        services = {"kinesis" if isinstance(section, KinesisTarget) else "sqs"}
        services |= {name for name in ("kinesis", "sqs", "dynamodb")
                     if getattr(section.outcome, name)}
        clients = Clients(**{name: aws_client(name, 1, CHECK_TIMEOUT_S, session=session)
                             for name in services})
        check_stream_resources(section, clients)
