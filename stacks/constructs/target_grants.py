"""What the load generators may call of the platform: derived from the scenarios' targets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from stresslab.targets.config import (
    AnyTarget,
    KinesisTarget,
    LambdaTarget,
    OutcomeSource,
    SqsTarget,
    StepFunctionsExpressTarget,
)

INVOKE = ("lambda:InvokeFunction",)
START_SYNC = ("states:StartSyncExecution",)
PUT_STREAM = ("kinesis:DescribeStreamSummary", "kinesis:PutRecords")
READ_STREAM = (
    "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
SEND_QUEUE = ("sqs:GetQueueAttributes", "sqs:SendMessage")
# ChangeMessageVisibility: a worker gives back the decisions of another worker at once
READ_QUEUE = (
    "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
READ_TABLE = ("dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
              "dynamodb:Query")
_SQS_HOST = re.compile(r"^sqs\.([a-z0-9-]+)\.")

Grant = tuple[tuple[str, ...], list[str]]


class _Arns:
    """ARNs in the stack's partition, account and region unless the name carries its own."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def function(self, target: LambdaTarget) -> list[str]:
        parts = target.function.split(":")
        account, qualifier = None, None
        if parts[0] == "arn":  # arn:aws:lambda:region:account:function:name[:qualifier]
            base = ":".join(parts[:7])
            qualifier = parts[7] if len(parts) > 7 else None
        else:  # name[:qualifier] or account:function:name[:qualifier]
            if len(parts) >= 3 and parts[1] == "function":
                account, parts = parts[0], parts[2:]
            qualifier = parts[1] if len(parts) > 1 else None
            base = self._stack.format_arn(
                service="lambda", resource="function", resource_name=parts[0], account=account,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        qualifier = target.qualifier or qualifier
        return [base, f"{base}:{qualifier}"] if qualifier else [base]

    def stream(self, name: str) -> str:
        if name.startswith("arn:"):
            return name
        return self._stack.format_arn(service="kinesis", resource="stream", resource_name=name)

    def queue(self, url: str) -> str:
        # https://sqs.<region>.amazonaws.com/<account>/<name>
        parts = urlsplit(url)
        account, name = parts.path.strip("/").split("/")[-2:]
        region = _SQS_HOST.match(parts.hostname or "")
        return self._stack.format_arn(
            service="sqs", resource=name, account=account,
            region=region.group(1) if region else None,
            arn_format=ArnFormat.NO_RESOURCE_NAME,
        )

    def table(self, name: str) -> str:
        return self._stack.format_arn(service="dynamodb", resource="table", resource_name=name)


def _outcome_grant(outcome: OutcomeSource, arns: _Arns) -> Grant:
    if outcome.kinesis:
        return READ_STREAM, [arns.stream(outcome.kinesis)]
    if outcome.sqs:
        return READ_QUEUE, [arns.queue(outcome.sqs)]
    assert outcome.dynamodb is not None
    return READ_TABLE, [arns.table(outcome.dynamodb)]


def _grants(target: AnyTarget, arns: _Arns) -> Iterable[Grant]:
    if isinstance(target, LambdaTarget):
        yield INVOKE, arns.function(target)
    elif isinstance(target, StepFunctionsExpressTarget):
        yield START_SYNC, [target.state_machine_arn]
    elif isinstance(target, KinesisTarget):
        yield PUT_STREAM, [arns.stream(target.stream)]
        yield _outcome_grant(target.outcome, arns)
    elif isinstance(target, SqsTarget):
        yield SEND_QUEUE, [arns.queue(target.queue_url)]
        yield _outcome_grant(target.outcome, arns)
    # http: nothing of AWS (a SigV4 API's execute-api:Invoke is granted by its own stack)


def target_statements(stack: Stack, targets: Sequence[AnyTarget]) -> list[iam.PolicyStatement]:
    """One statement per set of actions, on every resource the targets name for it."""
    arns = _Arns(stack)
    merged: dict[tuple[str, ...], list[str]] = {}
    for target in targets:
        for actions, resources in _grants(target, arns):
            merged.setdefault(actions, [])
            merged[actions] += [arn for arn in resources if arn not in merged[actions]]
    return [iam.PolicyStatement(actions=list(actions), resources=resources)
            for actions, resources in merged.items()]
