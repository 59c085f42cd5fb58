"""StresslabStack: composes the stresslab constructs into one deployable stack."""

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from stacks.constructs.metrics_stream import MetricsStream
from stacks.constructs.results_store import ResultsStore
from stacks.context import StresslabContext

PROJECT_TAG = "stresslab"


class StresslabStack(Stack):
    """The stresslab AWS runtime; for now the results store and the metrics stream."""

    def __init__(
        self, scope: Construct, construct_id: str, *, context: StresslabContext, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.results = ResultsStore(
            self,
            "ResultsStore",
            results_retention_days=context.results_retention_days,
            access_log_retention_days=context.access_log_retention_days,
        )
        self.metrics = MetricsStream(
            self,
            "MetricsStream",
            mode=context.metrics_stream_mode,
            shard_count=context.shard_count,
            retention_hours=context.metrics_retention_hours,
        )
        self._build_outputs()
        Tags.of(self).add("project", PROJECT_TAG)
        Tags.of(self).add("env", context.env_name)

    def _build_outputs(self) -> None:
        CfnOutput(self, "ResultsBucketName", value=self.results.bucket.bucket_name)
        CfnOutput(self, "MetricsStreamName", value=self.metrics.stream.stream_name)
        CfnOutput(self, "MetricsStreamArn", value=self.metrics.stream.stream_arn)
