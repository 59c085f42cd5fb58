"""RunTable: the one DynamoDB table of runs, per-second series, dedupe markers and connections."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# docs/aws-runtime.md: items are keyed pk/sk and expire through the `expires_at` attribute.
TTL_ATTRIBUTE = "expires_at"


class RunTable(Construct):
    """On-demand table keyed pk/sk, KMS-encrypted, with point-in-time recovery and TTL."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = self._build_table()

    def _build_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            # Every finished run's report is kept in the results bucket; the table only serves
            # live runs and recent history.
            removal_policy=RemovalPolicy.DESTROY,
        )
