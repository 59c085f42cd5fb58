"""InfraMetrics: a schedule that reads the platform's CloudWatch metrics for the admin page."""

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as _lambda
from constructs import Construct

from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.context import WatchedMetric

# What the admin page shows of each platform function (seed: "Lambda concurrency and duration");
# invocations are costed with the price table's lambda_request.
_FUNCTION_METRICS = (
    ("Invocations", "Sum", "lambda_request"),
    ("Errors", "Sum", None),
    ("Throttles", "Sum", None),
    ("Duration", "p99", None),
    ("ConcurrentExecutions", "Maximum", None),
)


class InfraMetrics(Construct):
    """EventBridge schedule (every minute) -> infra_metrics Lambda -> GetMetricData -> table.

    WATCHED_METRICS is the JSON list stresslab.aws.infra.parse_watched reads: the platform
    functions' metrics, the metrics stream's incoming records, the aggregator's iterator age
    (how far live updates lag), then the context's `watched_metrics`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        platform_function_arns: Mapping[str, str],
        stream: kinesis.IStream,
        aggregator: _lambda.IFunction,
        extra_metrics: Sequence[WatchedMetric],
    ) -> None:
        super().__init__(scope, construct_id)
        watched = [
            *_platform_metrics(platform_function_arns),
            WatchedMetric(
                namespace="AWS/Kinesis",
                metric="IncomingRecords",
                dimensions={"StreamName": stream.stream_name},
                label="metrics stream incoming records",
            ),
            WatchedMetric(
                namespace="AWS/Lambda",
                metric="IteratorAge",
                dimensions={"FunctionName": aggregator.function_name},
                stat="Maximum",
                label="aggregator iterator age (ms)",
            ),
            *extra_metrics,
        ]
        self.function = self._build_function(functions, table, _watched_json(watched))
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="stresslab: refresh the admin page's infrastructure metrics",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _build_function(
        self, functions: FunctionFactory, table: dynamodb.ITable, watched: list[dict[str, Any]]
    ) -> _lambda.Function:
        function = functions.build(
            self,
            "Reader",
            FunctionSpec(
                handler="lambdas.infra_metrics.handler",
                description="infrastructure metrics (CloudWatch -> admin page)",
                environment={
                    "TABLE_NAME": table.table_name,
                    "WATCHED_METRICS": Stack.of(self).to_json_string(watched),
                },
                timeout=Duration.seconds(50),
            ),
        )
        table.grant_read_write_data(function)
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        )
        return function


def _platform_metrics(function_arns: Mapping[str, str]) -> list[WatchedMetric]:
    return [
        WatchedMetric(
            namespace="AWS/Lambda",
            metric=metric,
            dimensions={"FunctionName": arn.rsplit(":", 1)[-1]},  # ARNs come unqualified
            stat=stat,
            label=f"{name} {metric}",
            price=price,
        )
        for name, arn in function_arns.items()
        for metric, stat, price in _FUNCTION_METRICS
    ]


def _watched_json(watched: Sequence[WatchedMetric]) -> list[dict[str, Any]]:
    return [
        {"id": f"m{index}", **metric.model_dump(exclude_none=True)}
        for index, metric in enumerate(watched)
    ]
