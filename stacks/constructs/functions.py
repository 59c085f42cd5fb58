"""FunctionFactory: builds every stresslab Lambda function the same way, from one staged asset."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import AssetHashType, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.nag import acknowledge
from stacks.packaging import StagedAsset

# AWS publishes the ARN of each Powertools layer release in a public SSM parameter; resolving it
# at deploy time pins the layer to the Powertools version the tests run, without a lookup.
_POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/x86_64/python3.12/{version}"


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between two stresslab functions."""

    handler: str
    description: str
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 256
    timeout: Duration = field(default_factory=lambda: Duration.seconds(30))
    reserved_concurrency: int | None = None


class FunctionFactory(Construct):
    """Python 3.12 x86_64 functions sharing one asset and the Powertools layer.

    Each function gets its own role (which can only write its own log group), its own log group
    with the context's retention, X-Ray tracing and JSON logs; grants are added by the caller.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset: StagedAsset,
        powertools_version: str,
        log_retention: logs.RetentionDays,
        metrics_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_retention = log_retention
        self._metrics_namespace = metrics_namespace
        self._code = _lambda.Code.from_asset(
            str(asset.path), asset_hash=asset.asset_hash, asset_hash_type=AssetHashType.CUSTOM
        )
        self._powertools = self._build_powertools_layer(powertools_version)

    def _build_powertools_layer(self, version: str) -> _lambda.ILayerVersion:
        arn = ssm.StringParameter.value_for_string_parameter(
            self, _POWERTOOLS_LAYER_PARAMETER.format(version=version)
        )
        return _lambda.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def build(self, scope: Construct, construct_id: str, spec: FunctionSpec) -> _lambda.Function:
        """Add a function named `construct_id` to `scope` (its owning construct)."""
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self._log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"stresslab {spec.description}",
        )
        log_group.grant_write(role)
        function = _lambda.Function(
            scope,
            construct_id,
            description=f"stresslab {spec.description}",
            runtime=_lambda.Runtime.PYTHON_3_12,
            architecture=_lambda.Architecture.X86_64,
            code=self._code,
            handler=spec.handler,
            layers=[self._powertools],
            role=role,
            log_group=log_group,
            logging_format=_lambda.LoggingFormat.JSON,
            tracing=_lambda.Tracing.ACTIVE,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            reserved_concurrent_executions=spec.reserved_concurrency,
            environment={
                "POWERTOOLS_SERVICE_NAME": _service_name(spec.handler),
                "POWERTOOLS_METRICS_NAMESPACE": self._metrics_namespace,
                **spec.environment,
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "The asset's wheels are built for python3.12 (docs/aws-runtime.md), and the "
            "Powertools layer is pinned to that runtime.",
        )
        return function


def _service_name(handler: str) -> str:
    # "lambdas.load_generator.handler" -> "load_generator"
    return handler.split(".")[-2]
