"""MetricsPipeline: the aggregator that merges MetricsBatches from Kinesis and pushes live ticks."""

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.constructs.live_updates import LiveUpdates
from stacks.nag import acknowledge

# A batch that still fails after these retries (each one bisected) goes to the DLQ; the
# aggregator's dedupe on (worker, seq) makes every retry safe.
RETRY_ATTEMPTS = 5
BATCH_SIZE = 100
# Batches of one shard merged at once (Lambda keeps each partition key, i.e. each worker, in
# order). The aggregator's consumers share no item but a second's tick, so they do not contend.
PARALLELIZATION_FACTOR = 10


class MetricsPipeline(Construct):
    """Kinesis -> aggregator Lambda (partial batch failures, bisect, retries, SQS DLQ)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        stream: kinesis.IStream,
        table: dynamodb.ITable,
        live: LiveUpdates,
        metrics_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = self._build_dead_letter_queue()
        self.aggregator = self._build_aggregator(functions, table, live, metrics_namespace)
        self.aggregator.add_event_source(self._build_event_source(stream))

    def _build_dead_letter_queue(self) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the Kinesis event source; it "
            "holds the shard and sequence ranges of batches that failed every retry.",
        )
        return queue

    def _build_aggregator(
        self,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        live: LiveUpdates,
        metrics_namespace: str,
    ) -> _lambda.Function:
        aggregator = functions.build(
            self,
            "Aggregator",
            FunctionSpec(
                handler="lambdas.aggregator.handler",
                description="aggregator (MetricsBatch -> per-second series, live ticks)",
                environment={
                    "TABLE_NAME": table.table_name,
                    "WS_ENDPOINT": live.management_endpoint,
                },
                memory_mb=1024,
                timeout=Duration.minutes(1),
            ),
        )
        table.grant_read_write_data(aggregator)
        live.grant_push(aggregator)
        # The live error rate and P99 the safety alarms watch (EMF needs no permission; a direct
        # PutMetricData call is held to this stack's namespace).
        aggregator.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
            )
        )
        return aggregator

    def _build_event_source(self, stream: kinesis.IStream) -> sources.KinesisEventSource:
        return sources.KinesisEventSource(
            stream,
            starting_position=_lambda.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE,
            max_batching_window=Duration.seconds(1),
            parallelization_factor=PARALLELIZATION_FACTOR,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=Duration.hours(1),
            on_failure=sources.SqsDlq(self.dead_letters),
        )
