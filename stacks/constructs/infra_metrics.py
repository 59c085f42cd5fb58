"""InfraMetrics: a schedule that reads the platform's CloudWatch metrics for the admin page."""

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
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

# About 1 KB of JSON per platform function: in the environment, 3 or 4 functions passed
# Lambda's 4 KB limit, so the list is an object the stack writes and the function reads once.
WATCHED_METRICS_PREFIX = "config/"
WATCHED_METRICS_KEY = f"{WATCHED_METRICS_PREFIX}watched-metrics.json"


class InfraMetrics(Construct):
    """EventBridge schedule (every minute) -> infra_metrics Lambda -> GetMetricData -> table.

    config/watched-metrics.json in `config_bucket` is the JSON list
    stresslab.aws.infra.parse_watched reads: the platform functions' metrics, the metrics
    stream's incoming records, the aggregator's iterator age (how far live updates lag), then
    the context's `watched_metrics`. The function reads it once per cold start.
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
        config_bucket: s3.IBucket,
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
        self.watched = s3deploy.BucketDeployment(
            self,
            "WatchedMetrics",
            destination_bucket=config_bucket,
            destination_key_prefix=WATCHED_METRICS_PREFIX,
            sources=[
                s3deploy.Source.json_data(
                    WATCHED_METRICS_KEY.removeprefix(WATCHED_METRICS_PREFIX),
                    _watched_json(watched),
                )
            ],
            # Only this object: run outputs share the bucket.
            prune=False,
            retain_on_delete=False,
            # The site's deployment has the same limit, so both share CDK's one handler.
            memory_limit=512,
        )
        self.function = self._build_function(functions, table, config_bucket)
        self.function.node.add_dependency(self.watched)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="stresslab: refresh the admin page's infrastructure metrics",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _build_function(
        self, functions: FunctionFactory, table: dynamodb.ITable, config_bucket: s3.IBucket
    ) -> _lambda.Function:
        function = functions.build(
            self,
            "Reader",
            FunctionSpec(
                handler="lambdas.infra_metrics.handler",
                description="infrastructure metrics (CloudWatch -> admin page)",
                environment={
                    "TABLE_NAME": table.table_name,
                    "WATCHED_METRICS_BUCKET": config_bucket.bucket_name,
                    "WATCHED_METRICS_KEY": WATCHED_METRICS_KEY,
                },
                timeout=Duration.seconds(50),
            ),
        )
        table.grant_read_write_data(function)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[config_bucket.arn_for_objects(WATCHED_METRICS_KEY)],
            )
        )
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
