"""MetricsStream: the Kinesis data stream that carries MetricsBatch records to the aggregator."""

from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

StreamModeName = Literal["on_demand", "provisioned"]

_STREAM_MODES: dict[StreamModeName, kinesis.StreamMode] = {
    "on_demand": kinesis.StreamMode.ON_DEMAND,
    "provisioned": kinesis.StreamMode.PROVISIONED,
}


class MetricsStream(Construct):
    """Encrypted Kinesis stream, on-demand or provisioned, with retention from context."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mode: StreamModeName,
        shard_count: int,
        retention_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream = self._build_stream(mode, shard_count, retention_hours)

    def _build_stream(
        self, mode: StreamModeName, shard_count: int, retention_hours: int
    ) -> kinesis.Stream:
        return kinesis.Stream(
            self,
            "Stream",
            stream_mode=_STREAM_MODES[mode],
            # On-demand streams scale themselves and reject a shard count.
            shard_count=shard_count if mode == "provisioned" else None,
            # The AWS managed key (alias/aws/kinesis) needs no key policy to keep in step
            # with the producers and consumers a later issue adds.
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(retention_hours),
            # It only holds in-flight metrics; one left behind by `cdk destroy` only costs money.
            removal_policy=RemovalPolicy.DESTROY,
        )
