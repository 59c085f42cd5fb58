"""FaultTemplates: FIS experiment templates for the seed's failures of the platform under test."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

# FIS writes each experiment's fault configuration here; the FIS Lambda extension on the
# platform's functions reads it (AWS_FIS_CONFIGURATION_LOCATION).
FIS_CONFIG_PREFIX = "FisConfigs/"

# The template of a fault without target hits every platform function; FAULT_TEMPLATES names it
# by the fault type alone, and a one-target template by "<fault type>:<target>".
ALL_TARGETS = "all"

# The state machine stops each experiment when its fault window ends; the action's own duration
# is only a backstop for a run that dies without cleanup. FIS allows up to 12 hours.
_ACTION_BACKSTOP = "PT2H"


@dataclass(frozen=True)
class FaultAction:
    """How one scenario fault type is carried out by FIS on Lambda functions."""

    action_id: str
    parameters: Mapping[str, str]
    description: str


class FaultTemplates(Construct):
    """One template per (fault type, target) plus one per fault type over all targets.

    `template_ids` is FAULT_TEMPLATES of the plan and control API functions: fault type ->
    template id (all targets), and "<fault type>:<target>" -> template id. No platform
    functions, no templates.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_function_arns: Mapping[str, str],
        stop_alarms: Sequence[cloudwatch.IAlarm],
        error_percentage: int,
        delay_ms: int,
        access_log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = dict(platform_function_arns)
        self._stop_alarms = list(stop_alarms)
        self.templates: list[fis.CfnExperimentTemplate] = []
        self.template_ids: dict[str, str] = {}
        if not self._functions:
            return
        self.config_bucket = self._build_config_bucket(access_log_bucket)
        self.role = self._build_role()
        targets = {name: [arn] for name, arn in self._functions.items()}
        targets[ALL_TARGETS] = list(self._functions.values())
        for fault_type, action in _fault_actions(error_percentage, delay_ms).items():
            for target, arns in targets.items():
                template = self._build_template(fault_type, target, arns, action)
                key = fault_type if target == ALL_TARGETS else f"{fault_type}:{target}"
                self.template_ids[key] = template.attr_id
                self.templates.append(template)

    @property
    def template_arns(self) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="fis", resource="experiment-template", resource_name=t.attr_id)
            for t in self.templates
        ]

    @property
    def configuration_location(self) -> str:
        """The value of AWS_FIS_CONFIGURATION_LOCATION on the platform's functions."""
        return f"{self.config_bucket.bucket_arn}/{FIS_CONFIG_PREFIX}"

    def _build_config_bucket(self, access_log_bucket: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "ConfigBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="fis-config-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireStaleFaultConfigs",
                    expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # FIS deletes each configuration when its experiment ends; nothing here outlives it.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "ExperimentRole",
            assumed_by=iam.ServicePrincipal(
                "fis.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="stresslab FIS experiments on the platform's Lambda functions",
        )
        # The permissions of the aws:lambda:* actions (AWS managed policy
        # AWSFaultInjectionSimulatorLambdaAccess), scoped to the configured functions.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[self.config_bucket.arn_for_objects(f"{FIS_CONFIG_PREFIX}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:GetFunction"], resources=list(self._functions.values())
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["tag:GetResources"], resources=["*"]))
        return role

    def _build_template(
        self, fault_type: str, target: str, arns: list[str], action: FaultAction
    ) -> fis.CfnExperimentTemplate:
        name = "".join(part.title() for part in f"{fault_type}_{target}".split("_"))
        return fis.CfnExperimentTemplate(
            self,
            name,
            description=f"stresslab {fault_type} on {target}: {action.description}"[:512],
            role_arn=self.role.role_arn,
            targets={
                "Functions": fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                    resource_type="aws:lambda:function",
                    resource_arns=arns,
                    selection_mode="ALL",
                )
            },
            actions={
                "Inject": fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id=action.action_id,
                    parameters={"duration": _ACTION_BACKSTOP, **action.parameters},
                    targets={"Functions": "Functions"},
                )
            },
            stop_conditions=[
                fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(
                    source="aws:cloudwatch:alarm", value=alarm.alarm_arn
                )
                for alarm in self._stop_alarms
            ],
            tags={"Name": f"stresslab-{fault_type}-{target}"},
        )


def _fault_actions(error_percentage: int, delay_ms: int) -> dict[str, FaultAction]:
    """The scenario fault types that map onto FIS's Lambda actions (README, "Fault types")."""
    return {
        "agent_errors": FaultAction(
            "aws:lambda:invocation-error",
            {"invocationPercentage": str(error_percentage), "preventExecution": "false"},
            f"{error_percentage}% of invocations return an error",
        ),
        "agent_down": FaultAction(
            "aws:lambda:invocation-error",
            {"invocationPercentage": "100", "preventExecution": "true"},
            "every invocation fails without running (a crashed agent)",
        ),
        "latency": FaultAction(
            "aws:lambda:invocation-add-delay",
            {"invocationPercentage": "100", "startupDelayMilliseconds": str(delay_ms)},
            f"every invocation starts {delay_ms} ms late",
        ),
    }


def experiments_arn(scope: Construct) -> str:
    """Every FIS experiment of this account and region: their ids exist only once started."""
    return Stack.of(scope).format_arn(service="fis", resource="experiment", resource_name="*")


def grant_start_experiments(
    scope: Construct, grantee: iam.IGrantable, template_arns: Sequence[str]
) -> None:
    """Start experiments from these templates (tagged with their run) and stop them."""
    if not template_arns:
        return
    principal = grantee.grant_principal
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["fis:StartExperiment"], resources=[*template_arns, experiments_arn(scope)]
        )
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["fis:TagResource", "fis:StopExperiment"], resources=[experiments_arn(scope)]
        )
    )


def grant_stop_experiments(scope: Construct, grantee: iam.IGrantable) -> None:
    """Find a run's experiments (ListExperiments has no resource type) and stop them."""
    principal = grantee.grant_principal
    principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["fis:ListExperiments"], resources=["*"])
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["fis:StopExperiment"], resources=[experiments_arn(scope)])
    )
