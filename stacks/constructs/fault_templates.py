"""FaultTemplates: FIS experiment templates for the scenario fault vocabulary on the platform.

docs/faults.md is the table this module builds from: each scenario fault type, with a target
or over every target, maps onto one FIS experiment template.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.store_throttle import StoreThrottle, iso_duration
from stacks.context import ALL_TARGETS, stream_name
from stresslab.aws.faults import STACK_TAG

# FIS writes each experiment's fault configuration here; the FIS Lambda extension on the
# platform's functions reads it (AWS_FIS_CONFIGURATION_LOCATION).
FIS_CONFIG_PREFIX = "FisConfigs/"

# The state machine stops each experiment when its fault window ends; an action's own duration
# is only a backstop for a run that dies without cleanup. FIS allows up to 12 hours.
ACTION_BACKSTOP = timedelta(hours=2)

LOG_SCHEMA_VERSION = 2

LAMBDA_TARGET = "aws:lambda:function"

# FAULT_TEMPLATES travels in the plan and control API functions' environments, which Lambda
# holds to 4 KB in all; this leaves the rest of them over 1 KB. Ids are counted at 32 characters
# (FIS's are about 17).
FAULT_TEMPLATES_BUDGET = 2_800
_TEMPLATE_ID_LENGTH = 32


@dataclass(frozen=True)
class PlatformUnderTest:
    """The platform's resources that faults may be injected into (context keys of the same name)."""

    function_arns: Mapping[str, str] = field(default_factory=dict)
    stream_arns: Sequence[str] = ()
    stream_consumer_roles: Mapping[str, str] = field(default_factory=dict)
    table_names: Sequence[str] = ()
    subnet_ids: Sequence[str] = ()


@dataclass(frozen=True)
class FaultIntensities:
    """How hard each kind of fault hits; FIS templates are fixed at deploy time."""

    error_percentage: int = 50
    delay_ms: int = 1_000
    throttle_percentage: int = 30
    store_capacity_units: int = 1


@dataclass(frozen=True)
class FisTarget:
    """The resources an action acts on; `name` is the key the action's definition gives them."""

    name: str
    resource_type: str
    arns: tuple[str, ...]


@dataclass(frozen=True)
class FisAction:
    """One FIS action; `timed` actions take the backstop as their `duration`."""

    action_id: str
    parameters: Mapping[str, str]
    target: FisTarget | None = None
    name: str = "Inject"
    timed: bool = True


@dataclass(frozen=True)
class FaultTemplate:
    """What one FAULT_TEMPLATES key starts: the actions, and the experiment role they run as."""

    fault_type: str
    target: str
    description: str
    role: str
    actions: tuple[FisAction, ...]

    @property
    def key(self) -> str:
        return self.fault_type if self.target == ALL_TARGETS else f"{self.fault_type}:{self.target}"


class FaultTemplates(Construct):
    """One FIS experiment template per fault the context makes possible (docs/faults.md).

    `template_ids` is FAULT_TEMPLATES of the plan and control API functions: fault type ->
    template over every target, "<fault type>:<target>" -> template of one target. Every template
    stops on the critical alarms, logs to one log group and runs as a role limited to its kind of
    fault. No platform resources in context, no templates.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: PlatformUnderTest,
        intensities: FaultIntensities,
        stop_alarms: Sequence[cloudwatch.IAlarm],
        access_log_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._platform = platform
        self._intensities = intensities
        self._stop_alarms = list(stop_alarms)
        self._access_log_bucket = access_log_bucket
        self._log_retention = log_retention
        self._roles: dict[str, iam.Role] = {}
        self._grants: dict[str, Callable[[iam.Role], None]] = {}
        self.templates: list[fis.CfnExperimentTemplate] = []
        self.template_ids: dict[str, str] = {}
        self.config_bucket: s3.Bucket | None = None
        self.extension_policy: iam.ManagedPolicy | None = None
        self.store_throttle: StoreThrottle | None = None
        self.log_group: logs.LogGroup | None = None
        faults = [
            *self._lambda_faults(),
            *self._stream_faults(),
            *self._consumer_lag_faults(),
            *self._store_faults(),
            *self._network_faults(),
        ]
        if not faults:
            return
        _check_environment_budget([fault.key for fault in faults])
        log_group = self.log_group = self._build_log_group()
        for fault in faults:
            template = self._build_template(fault, log_group)
            self.template_ids[fault.key] = template.attr_id
            self.templates.append(template)

    @property
    def template_arns(self) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="fis", resource="experiment-template", resource_name=t.attr_id)
            for t in self.templates
        ]

    @property
    def configuration_location(self) -> str | None:
        """The value of AWS_FIS_CONFIGURATION_LOCATION on the platform's functions."""
        if self.config_bucket is None:
            return None
        return f"{self.config_bucket.bucket_arn}/{FIS_CONFIG_PREFIX}"

    # -- the vocabulary: which templates the context makes possible ----------------------------

    def _lambda_faults(self) -> list[FaultTemplate]:
        functions = dict(self._platform.function_arns)
        if not functions:
            return []
        bucket = self.config_bucket = self._build_config_bucket()
        self.extension_policy = self._build_extension_policy(bucket)
        self._grants["Lambda"] = lambda role: _grant_lambda(role, bucket, functions.values())
        targets: dict[str, tuple[str, ...]] = {name: (arn,) for name, arn in functions.items()}
        targets[ALL_TARGETS] = tuple(functions.values())
        return [
            FaultTemplate(
                fault_type,
                target,
                description,
                "Lambda",
                (FisAction(action_id, parameters, FisTarget("Functions", LAMBDA_TARGET, arns)),),
            )
            for fault_type, (action_id, parameters, description) in _lambda_actions(
                self._intensities
            ).items()
            for target, arns in targets.items()
        ]

    def _stream_faults(self) -> list[FaultTemplate]:
        streams = list(self._platform.stream_arns)
        percentage = str(self._intensities.throttle_percentage)
        self._grants["KinesisStream"] = lambda role: _grant_kinesis_stream(role, streams)
        return [
            FaultTemplate(
                "throttle",
                stream_name(arn),
                f"{percentage}% of the stream's reads and writes get "
                "ProvisionedThroughputExceededException (ingest refused, consumers lag)",
                "KinesisStream",
                (
                    FisAction(
                        "aws:kinesis:stream-provisioned-throughput-exception",
                        {"percentage": percentage},
                        FisTarget("KinesisStreams", "aws:kinesis:stream", (arn,)),
                    ),
                ),
            )
            for arn in streams
        ]

    def _consumer_lag_faults(self) -> list[FaultTemplate]:
        consumers = dict(self._platform.stream_consumer_roles)
        percentage = str(self._intensities.throttle_percentage)
        self._grants["KinesisConsumer"] = lambda role: _grant_kinesis_consumer(
            role, experiments_arn(self), sorted(set(consumers.values()))
        )
        return [
            FaultTemplate(
                "latency",
                stream_name(stream_arn),
                f"{percentage}% of the consumer role's Kinesis GetRecords calls are throttled, "
                "so records reach the platform late (Kinesis lag)",
                "KinesisConsumer",
                (
                    FisAction(
                        "aws:fis:inject-api-throttle-error",
                        {
                            "service": "kinesis",
                            "operations": "GetRecords",
                            "percentage": percentage,
                        },
                        FisTarget("Roles", "aws:iam:role", (role_arn,)),
                    ),
                ),
            )
            for stream_arn, role_arn in consumers.items()
        ]

    def _store_faults(self) -> list[FaultTemplate]:
        tables = list(self._platform.table_names)
        if not tables:
            return []
        store = self.store_throttle = StoreThrottle(
            self,
            "StoreThrottle",
            table_names=tables,
            units=self._intensities.store_capacity_units,
            hold=ACTION_BACKSTOP,
        )
        self._grants["Store"] = store.grant_start

        def throttle(table: str) -> FisAction:
            return FisAction(
                "aws:ssm:start-automation-execution",
                {
                    "documentArn": store.document_arn,
                    "documentParameters": store.parameters(table),
                    "maxDuration": iso_duration(store.max_duration),
                },
                name=f"Throttle{_pascal(table)}",
                timed=False,
            )

        units = self._intensities.store_capacity_units
        description = (
            f"the table's capacity (or on-demand maximum) is held at {units} read and write "
            "units by an SSM runbook, then restored"
        )
        return [
            FaultTemplate("slow_store", table, description, "Store", (throttle(table),))
            for table in tables
        ] + [
            FaultTemplate(
                "slow_store",
                ALL_TARGETS,
                description.replace("the table's", "every table's"),
                "Store",
                tuple(throttle(table) for table in tables),
            )
        ]

    def _network_faults(self) -> list[FaultTemplate]:
        if not self._platform.subnet_ids:
            return []
        stack = Stack.of(self)
        subnets = tuple(
            stack.format_arn(service="ec2", resource="subnet", resource_name=subnet)
            for subnet in self._platform.subnet_ids
        )
        self._grants["Network"] = lambda role: _grant_network(role, subnets)
        return [
            FaultTemplate(
                "drop_connections",
                ALL_TARGETS,
                "all traffic in and out of the platform's subnets is denied (a network partition)",
                "Network",
                (
                    FisAction(
                        "aws:network:disrupt-connectivity",
                        {"scope": "all"},
                        FisTarget("Subnets", "aws:ec2:subnet", subnets),
                    ),
                ),
            )
        ]

    # -- resources ------------------------------------------------------------------------------

    def _build_template(
        self, fault: FaultTemplate, log_group: logs.ILogGroup
    ) -> fis.CfnExperimentTemplate:
        targets = {
            action.target.name: fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type=action.target.resource_type,
                resource_arns=list(action.target.arns),
                selection_mode="ALL",
            )
            for action in fault.actions
            if action.target
        }
        return fis.CfnExperimentTemplate(
            self,
            _pascal(f"{fault.fault_type}_{fault.target}"),
            description=f"stresslab {fault.key}: {fault.description}"[:512],
            role_arn=self._role(fault.role).role_arn,
            targets=targets,
            actions={
                action.name: fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id=action.action_id,
                    parameters={
                        **({"duration": iso_duration(ACTION_BACKSTOP)} if action.timed else {}),
                        **action.parameters,
                    },
                    targets={action.target.name: action.target.name} if action.target else None,
                )
                for action in fault.actions
            },
            stop_conditions=[
                fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(
                    source="aws:cloudwatch:alarm", value=alarm.alarm_arn
                )
                for alarm in self._stop_alarms
            ],
            log_configuration=fis.CfnExperimentTemplate.ExperimentTemplateLogConfigurationProperty(
                log_schema_version=LOG_SCHEMA_VERSION,
                cloud_watch_logs_configuration={"LogGroupArn": log_group.log_group_arn},
            ),
            experiment_options=fis.CfnExperimentTemplate.ExperimentTemplateExperimentOptionsProperty(
                account_targeting="single-account", empty_target_resolution_mode="fail"
            ),
            tags={
                "Name": f"stresslab-{fault.fault_type}-{fault.target}",
                "stresslab:fault": fault.key,
            },
        )

    def _build_log_group(self) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            "ExperimentLogs",
            # Log delivery writes a resource policy for /aws/vendedlogs/* once, not per group.
            log_group_name=f"/aws/vendedlogs/fis/{Stack.of(self).stack_name}",
            retention=self._log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_config_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            "ConfigBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self._access_log_bucket,
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

    def _build_extension_policy(self, bucket: s3.Bucket) -> iam.ManagedPolicy:
        # For the platform team to attach to each function's role: the FIS Lambda extension
        # reads the fault configuration with the function's own credentials.
        return iam.ManagedPolicy(
            self,
            "ExtensionReadPolicy",
            description="Attach to the platform functions' roles: lets the AWS FIS Lambda "
            "extension read stresslab's fault configurations",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{FIS_CONFIG_PREFIX}*"]}},
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[bucket.arn_for_objects(f"{FIS_CONFIG_PREFIX}*")],
                ),
            ],
        )

    def _role(self, kind: str) -> iam.Role:
        if kind not in self._roles:
            self._roles[kind] = self._build_role(kind)
        return self._roles[kind]

    def _build_role(self, kind: str) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            f"{kind}ExperimentRole",
            assumed_by=iam.ServicePrincipal(
                "fis.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": experiments_arn(self)},
                },
            ),
            description=f"stresslab FIS experiments: {kind} faults on the platform under test",
        )
        # Vended log delivery to the experiment log group (CloudWatch Logs user permissions).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogDelivery",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                ],
                resources=["*"],
            )
        )
        self._grants[kind](role)
        return role


def _check_environment_budget(keys: Sequence[str]) -> None:
    size = len(json.dumps({key: "x" * _TEMPLATE_ID_LENGTH for key in keys}))
    if size > FAULT_TEMPLATES_BUDGET:
        raise SystemExit(
            f"stresslab: the context makes {len(keys)} fault templates, whose FAULT_TEMPLATES "
            f"(up to {size} bytes) would pass its {FAULT_TEMPLATES_BUDGET}-byte share of "
            "Lambda's 4 KB environment; name fewer platform functions, streams or tables"
        )


def _lambda_actions(intensities: FaultIntensities) -> dict[str, tuple[str, dict[str, str], str]]:
    """The fault types FIS's Lambda actions carry out: action id, parameters, what happens."""
    errors, delay = intensities.error_percentage, intensities.delay_ms
    throttled = intensities.throttle_percentage
    return {
        "agent_errors": (
            "aws:lambda:invocation-error",
            {"invocationPercentage": str(errors), "preventExecution": "false"},
            f"{errors}% of invocations run, then fail (Lambda crashes)",
        ),
        "agent_down": (
            "aws:lambda:invocation-error",
            {"invocationPercentage": "100", "preventExecution": "true"},
            "every invocation fails without running (an agent down)",
        ),
        "latency": (
            "aws:lambda:invocation-add-delay",
            {"invocationPercentage": "100", "startupDelayMilliseconds": str(delay)},
            f"every invocation starts {delay} ms late (a latency spike)",
        ),
        "throttle": (
            "aws:lambda:invocation-http-integration-response",
            {
                "invocationPercentage": str(throttled),
                "statusCode": "429",
                "contentTypeHeader": "application/json",
                "preventExecution": "true",
            },
            f"{throttled}% of invocations answer HTTP 429 without running (rate limited, "
            "e.g. the agent that calls Bedrock)",
        ),
    }


# -- what each kind of fault may do (FIS actions reference, "Permissions") ----------------------


def _grant_lambda(role: iam.Role, bucket: s3.IBucket, function_arns: Iterable[str]) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:DeleteObject"],
            resources=[bucket.arn_for_objects(f"{FIS_CONFIG_PREFIX}*")],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["lambda:GetFunction"], resources=list(function_arns))
    )
    role.add_to_policy(iam.PolicyStatement(actions=["tag:GetResources"], resources=["*"]))


def _grant_kinesis_stream(role: iam.Role, stream_arns: list[str]) -> None:
    # As the FIS user guide's example: "*", held to the action and the streams by conditions.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["kinesis:InjectApiError"],
            resources=["*"],
            conditions={
                "ForAllValues:StringEquals": {
                    "kinesis:FisActionId": ["aws:kinesis:stream-provisioned-throughput-exception"],
                    "kinesis:FisTargetArns": stream_arns,
                }
            },
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["kinesis:DescribeStreamSummary"], resources=stream_arns)
    )


def _grant_kinesis_consumer(role: iam.Role, experiments: str, role_arns: list[str]) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["fis:InjectApiThrottleError"],
            resources=[experiments],
            conditions={
                "StringEquals": {"fis:Service": "kinesis"},
                "ForAllValues:StringEquals": {
                    "fis:Operations": ["GetRecords"],
                    "fis:Targets": role_arns,
                },
            },
        )
    )


def _grant_network(role: iam.Role, subnet_arns: Sequence[str]) -> None:
    # AWSFaultInjectionSimulatorNetworkAccess less what the other network actions need, held to
    # this account and region and to the configured subnets.
    stack = Stack.of(role)

    def ec2(resource: str) -> str:
        return stack.format_arn(service="ec2", resource=resource, resource_name="*")

    fis_acl = {"aws:RequestTag/managedByFIS": "true"}
    statements = [
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkAcl"],
            resources=[ec2("network-acl")],
            conditions={"StringEquals": fis_acl},
        ),
        iam.PolicyStatement(
            actions=["ec2:CreateTags"],
            resources=[ec2("network-acl")],
            conditions={"StringEquals": {**fis_acl, "ec2:CreateAction": "CreateNetworkAcl"}},
        ),
        iam.PolicyStatement(actions=["ec2:CreateNetworkAcl"], resources=[ec2("vpc")]),
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
            resources=[ec2("network-acl"), ec2("vpc")],
            conditions={"StringEquals": {"ec2:ResourceTag/managedByFIS": "true"}},
        ),
        iam.PolicyStatement(
            actions=["ec2:ReplaceNetworkAclAssociation"],
            resources=[*subnet_arns, ec2("network-acl")],
        ),
        iam.PolicyStatement(
            actions=[
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeManagedPrefixLists",
            ],
            resources=["*"],
        ),
    ]
    for statement in statements:
        role.add_to_policy(statement)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def experiments_arn(scope: Construct) -> str:
    """Every FIS experiment of this account and region: their ids exist only once started."""
    return Stack.of(scope).format_arn(service="fis", resource="experiment", resource_name="*")


# Every experiment the stack starts carries STACK_TAG (value: the stack name), and its grants
# stop only experiments that carry it: another env's, or anyone else's, stay out of reach.

# FIS creates its service-linked role the first time an experiment starts in an account, as the
# caller: without this, the first experiment of a fresh account fails.
FIS_SERVICE = "fis.amazonaws.com"
FIS_SERVICE_LINKED_ROLE = "AWSServiceRoleForFIS"


def _stack_tag(scope: Construct, condition: str) -> dict[str, dict[str, str]]:
    return {"StringEquals": {f"{condition}/{STACK_TAG}": Stack.of(scope).stack_name}}


def grant_start_experiments(
    scope: Construct, grantee: iam.IGrantable, template_arns: Sequence[str]
) -> None:
    """Start experiments from these templates (tagged with the stack and run) and stop them."""
    if not template_arns:
        return
    principal = grantee.grant_principal
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["fis:StartExperiment"],
            resources=[*template_arns, experiments_arn(scope)],
            conditions=_stack_tag(scope, "aws:RequestTag"),
        )
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["fis:TagResource"],
            resources=[experiments_arn(scope)],
            conditions=_stack_tag(scope, "aws:RequestTag"),
        )
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                Stack.of(scope).format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name=f"aws-service-role/{FIS_SERVICE}/{FIS_SERVICE_LINKED_ROLE}",
                )
            ],
            conditions={"StringEquals": {"iam:AWSServiceName": FIS_SERVICE}},
        )
    )
    grant_stop_experiments(scope, grantee, listing=False)


def grant_stop_experiments(
    scope: Construct, grantee: iam.IGrantable, *, listing: bool = True
) -> None:
    """Find a run's experiments (ListExperiments has no resource type) and stop the stack's."""
    principal = grantee.grant_principal
    if listing:
        principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["fis:ListExperiments"], resources=["*"])
        )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["fis:StopExperiment"],
            resources=[experiments_arn(scope)],
            conditions=_stack_tag(scope, "aws:ResourceTag"),
        )
    )
