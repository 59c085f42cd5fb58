"""LoadGenerators: the Lambda that runs the core worker for one shard of one wave."""

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as _lambda
from constructs import Construct

from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.constructs.target_grants import target_statements
from stresslab.aws.target_key import TARGET_KEY_TAG
from stresslab.targets.config import AnyTarget

# Lambda's limit; waves are planned to at most 10 minutes so a worker always finishes inside it.
WORKER_TIMEOUT = Duration.minutes(15)


class LoadGenerators(Construct):
    """The load-generator function: its memory (and so its CPU) and reserved concurrency."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        stream: kinesis.IStream,
        table: dynamodb.ITable,
        target_stream_arns: Sequence[str],
        targets: Sequence[AnyTarget] = (),
        memory_mb: int,
        reserved_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = self._build_function(
            functions, stream, table, memory_mb, reserved_concurrency
        )
        self._grant_put_records([stream.stream_arn, *target_stream_arns])
        self._grant_target_keys()
        for statement in target_statements(Stack.of(self), targets):
            self.function.add_to_role_policy(statement)
        # It only polls the stop flags (one BatchGetItem of two keys every few seconds).
        table.grant(self.function, "dynamodb:BatchGetItem")

    def _build_function(
        self,
        functions: FunctionFactory,
        stream: kinesis.IStream,
        table: dynamodb.ITable,
        memory_mb: int,
        reserved_concurrency: int,
    ) -> _lambda.Function:
        function = functions.build(
            self,
            "Worker",
            FunctionSpec(
                handler="lambdas.load_generator.handler",
                description="load generator (one shard of one wave)",
                environment={
                    "METRICS_STREAM_NAME": stream.stream_name,
                    "TABLE_NAME": table.table_name,
                },
                memory_mb=memory_mb,
                timeout=WORKER_TIMEOUT,
                # Reserved so a wave always gets its workers, and capped so a bad plan cannot
                # take the account's whole concurrency.
                reserved_concurrency=reserved_concurrency,
            ),
        )
        return function

    def _grant_target_keys(self) -> None:
        # A run names its target's key by secret ARN (target_api_key_secret); the secrets are
        # made at deploy time, possibly by another stack, and only tagged ones may be read.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    Stack.of(self).format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
                conditions={
                    "StringEquals": {f"secretsmanager:ResourceTag/{TARGET_KEY_TAG}": "true"}
                },
            )
        )

    def _grant_put_records(self, stream_arns: list[str]) -> None:
        # Its MetricsBatches go to the metrics stream; transactions go to an HTTPS target or to
        # one of the platform's streams named in context.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kinesis:PutRecord", "kinesis:PutRecords"], resources=stream_arns
            )
        )
