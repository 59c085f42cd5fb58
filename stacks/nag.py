"""cdk-nag acknowledgements, each with the sentence that justifies it.

cdk-nag reports each wildcard of an IAM policy as its own finding (AwsSolutions-IAM5[...]),
named after the resolved statement, so `acknowledge_wildcards` computes those names the way
cdk-nag does and acknowledges only the wildcards this module justifies; any other wildcard
stays a finding and fails synthesis.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# Actions the Service Authorization Reference lists without a resource type: "*" is the only
# resource they accept.
ACTIONS_WITHOUT_RESOURCE_TYPES = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "cloudwatch:GetMetricData",
        "cloudwatch:PutMetricData",
        "fis:ListExperiments",
        "secretsmanager:GetRandomPassword",
        "tag:GetResources",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeManagedPrefixLists",
    }
)

# Actions granted on "*" only together with the condition key that names their resources, as the
# service's own documentation grants them (the FIS user guide's Kinesis experiment role).
ACTIONS_SCOPED_BY_CONDITION = {"kinesis:InjectApiError": "kinesis:FisTargetArns"}

# CDK's BucketDeployment handler: a singleton that aws-cdk-lib builds and grants itself.
CDK_BUCKET_DEPLOYMENT = re.compile(r"/Custom::CDKBucketDeployment[^/]*/")


@dataclass(frozen=True)
class WildcardReason:
    """A wildcard finding (regex on its name) allowed where the construct path matches."""

    finding: re.Pattern[str]
    reason: str
    path: re.Pattern[str] = re.compile("")


def _account_arn(service: str, resource: str) -> re.Pattern[str]:
    """The finding of an ARN in this account and region, as cdk-nag names it; `resource` a regex."""
    return re.compile(
        rf"^Resource::arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}$"
    )


WILDCARD_REASONS = (
    WildcardReason(
        _account_arn("fis", r"experiment/\*"),
        "FIS authorises API fault injection on the experiment itself, whose id exists only once "
        "started, and the statement's conditions hold it to Kinesis GetRecords of the consumer "
        "roles.",
        re.compile(r"/FaultTemplates/KinesisConsumerExperimentRole/"),
    ),
    WildcardReason(
        _account_arn(
            "ssm", r"automation-definition/<FaultTemplatesStoreThrottleRunbook[A-Za-z0-9]+>:\*"
        ),
        "FIS starts the default version of the stack's own store-throttle runbook, and an "
        "automation definition ARN always ends in a version.",
        re.compile(r"/FaultTemplates/StoreExperimentRole/"),
    ),
    WildcardReason(
        _account_arn("ssm", r"automation-execution/\*"),
        "Automation execution ids exist only once FIS starts the runbook, so FIS follows and "
        "stops executions of this account and region.",
        re.compile(r"/FaultTemplates/StoreExperimentRole/"),
    ),
    WildcardReason(
        _account_arn("ec2", r"(network-acl|vpc)/\*"),
        "FIS clones each target subnet's network ACL into a new one tagged managedByFIS, whose "
        "id and VPC are known only then; creating and deleting entries is held to that tag.",
        re.compile(r"/FaultTemplates/NetworkExperimentRole/"),
    ),
    WildcardReason(
        re.compile(r"^Resource::<[A-Za-z0-9]+\.Arn>:\*$"),
        "Invoking a function also names its versions (function ARN:*), as CDK's grantInvoke "
        "does for Step Functions' lambda:invoke tasks.",
    ),
    WildcardReason(
        re.compile(r"^Resource::arn:<AWS::Partition>:states:.*:execution:.*[:/]\*$"),
        "Runs and Distributed Map child executions are named at run time, so the grant is "
        "execution:<run_scenario>:* and /*, the executions of this one state machine.",
    ),
    WildcardReason(
        _account_arn("fis", r"experiment/\*"),
        "FIS experiment ids exist only once started, so experiment/* of this account and "
        "region is the narrowest resource for tagging and stopping them.",
    ),
    WildcardReason(
        _account_arn("secretsmanager", r"secret:\*"),
        "A run names its target's key by secret ARN at run time, and the condition holds the "
        "load generators to secrets tagged stresslab:target-key=true.",
        re.compile(r"/LoadGenerators/WorkerRole/"),
    ),
    WildcardReason(
        re.compile(r"^Resource::arn:<AWS::Partition>:execute-api:.*/live/POST/@connections/\*$"),
        "WebSocket connection ids are only known at run time; the grant is POST @connections "
        "on the live stage of this stack's API only.",
    ),
    WildcardReason(
        re.compile(r"^Resource::<ResultsStoreResultsBucket[A-Za-z0-9]+\.Arn>/runs/\*$"),
        "Each run's outputs live under runs/<run_id>/ of the results bucket, whose ids are "
        "made at run time.",
    ),
    WildcardReason(
        re.compile(r"^Resource::<FaultTemplatesConfigBucket[A-Za-z0-9]+\.Arn>/FisConfigs/\*$"),
        "FIS writes one fault configuration object per experiment under FisConfigs/ of its "
        "configuration bucket.",
    ),
    WildcardReason(
        re.compile(r"^(Action::s3:[A-Za-z]+\*|Resource::.*/\*|Resource::\*)$"),
        "CDK's BucketDeployment handler (managed by aws-cdk-lib) syncs the site: it reads the "
        "staged asset, replaces the site bucket's objects and invalidates the distribution.",
        CDK_BUCKET_DEPLOYMENT,
    ),
)


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge `rule_id` on `construct` and everything below it."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcards(stack: Stack) -> None:
    """Acknowledge every justified IAM5 finding of the stack's IAM policies."""
    for construct in stack.node.find_all():
        if not isinstance(construct, (iam.CfnPolicy, iam.CfnManagedPolicy)):
            continue
        document = stack.resolve(construct.policy_document)
        path = construct.node.path
        for finding in wildcard_findings(document):
            reason = _reason_for(finding, document, path)
            if reason:
                acknowledge(construct, f"AwsSolutions-IAM5[{finding}]", reason)


def wildcard_findings(document: dict[str, Any]) -> list[str]:
    """The IAM5 finding names of a resolved policy document, as cdk-nag 3 forms them."""
    findings: dict[str, None] = {}
    for statement in _allow_statements(document):
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                findings[f"Action::{action}"] = None
        for resource in _as_list(statement.get("Resource")):
            flat = _flatten(resource)
            if "*" in flat:
                findings[f"Resource::{flat}"] = None
    return list(findings)


def actions_on_any_resource(document: dict[str, Any]) -> set[str]:
    """The actions a resolved policy document allows on Resource "*"."""
    return {
        action
        for statement in _allow_statements(document)
        if "*" in _as_list(statement.get("Resource"))
        for action in _as_list(statement.get("Action"))
    }


def unscoped_actions_on_any_resource(document: dict[str, Any]) -> set[str]:
    """Actions on Resource "*" that neither lack a resource type nor carry their condition."""
    unscoped = set()
    for statement in _allow_statements(document):
        if "*" not in _as_list(statement.get("Resource")):
            continue
        keys = {key for values in statement.get("Condition", {}).values() for key in values}
        for action in _as_list(statement.get("Action")):
            if action in ACTIONS_WITHOUT_RESOURCE_TYPES:
                continue
            if ACTIONS_SCOPED_BY_CONDITION.get(action) not in keys:
                unscoped.add(action)
    return unscoped


def _reason_for(finding: str, document: dict[str, Any], path: str) -> str | None:
    if finding == "Resource::*" and not CDK_BUCKET_DEPLOYMENT.search(path):
        if unscoped_actions_on_any_resource(document):
            return None
        actions = sorted(actions_on_any_resource(document))
        scoped = [action for action in actions if action in ACTIONS_SCOPED_BY_CONDITION]
        if scoped:
            keys = ", ".join(ACTIONS_SCOPED_BY_CONDITION[action] for action in scoped)
            return (
                f"{', '.join(actions)} are granted on \"*\" as their service documents them, "
                f"held to the configured resources by {keys} where a resource type exists."
            )
        return f"{', '.join(actions)} accept no resource but \"*\" (no resource type)."
    for justification in WILDCARD_REASONS:
        if justification.path.search(path) and justification.finding.match(finding):
            return justification.reason
    return None


def _allow_statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in document.get("Statement", []):
        if statement.get("Effect") == "Allow":
            yield statement


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _flatten(node: Any) -> str:
    # cdk-nag's flattenCfnReference, so that the names match its findings exactly.
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
