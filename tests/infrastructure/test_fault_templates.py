"""Infrastructure tests: the fault vocabulary as FIS experiment templates (docs/faults.md)."""

import json
import re
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from moto import mock_aws

from stacks.constructs.fault_templates import (
    FaultIntensities,
    FaultTemplates,
    PlatformUnderTest,
)
from stacks.constructs.store_throttle import SCRIPT, iso_duration
from stacks.runbooks import store_throttle
from tests.infrastructure.conftest import ROOT, TEST_CONTEXT, SynthesizedApp

AGENTS = TEST_CONTEXT["platform_function_arns"]
FUNCTION_ARNS = sorted(AGENTS.values())
STREAM_ARN = TEST_CONTEXT["target_stream_arns"][0]
CONSUMER_ROLE = TEST_CONTEXT["target_stream_consumer_roles"][STREAM_ARN]
TABLES = TEST_CONTEXT["platform_table_names"]
SUBNETS = TEST_CONTEXT["platform_subnet_ids"]

LAMBDA = "aws:lambda:function"

# What each FAULT_TEMPLATES key of TEST_CONTEXT must do: FIS action id, the parameters that
# matter (from cdk.json's intensities), and the target's resource type and resources.
EXPECTED: dict[str, tuple[str, dict[str, str], str | None, list[str]]] = {
    **{
        key: (
            "aws:lambda:invocation-error",
            {"invocationPercentage": "50", "preventExecution": "false"},
            LAMBDA,
            arns,
        )
        for key, arns in [("agent_errors", FUNCTION_ARNS)]
        + [(f"agent_errors:{agent}", [arn]) for agent, arn in AGENTS.items()]
    },
    **{
        key: (
            "aws:lambda:invocation-error",
            {"invocationPercentage": "100", "preventExecution": "true"},
            LAMBDA,
            arns,
        )
        for key, arns in [("agent_down", FUNCTION_ARNS)]
        + [(f"agent_down:{agent}", [arn]) for agent, arn in AGENTS.items()]
    },
    **{
        key: (
            "aws:lambda:invocation-add-delay",
            {"invocationPercentage": "100", "startupDelayMilliseconds": "1000"},
            LAMBDA,
            arns,
        )
        for key, arns in [("latency", FUNCTION_ARNS)]
        + [(f"latency:{agent}", [arn]) for agent, arn in AGENTS.items()]
    },
    **{
        key: (
            "aws:lambda:invocation-http-integration-response",
            {
                "invocationPercentage": "30",
                "statusCode": "429",
                "contentTypeHeader": "application/json",
                "preventExecution": "true",
            },
            LAMBDA,
            arns,
        )
        for key, arns in [("throttle", FUNCTION_ARNS)]
        + [(f"throttle:{agent}", [arn]) for agent, arn in AGENTS.items()]
    },
    "throttle:transactions": (
        "aws:kinesis:stream-provisioned-throughput-exception",
        {"percentage": "30"},
        "aws:kinesis:stream",
        [STREAM_ARN],
    ),
    "latency:transactions": (
        "aws:fis:inject-api-throttle-error",
        {"service": "kinesis", "operations": "GetRecords", "percentage": "30"},
        "aws:iam:role",
        [CONSUMER_ROLE],
    ),
    **{
        f"slow_store:{table}": ("aws:ssm:start-automation-execution", {}, None, [])
        for table in TABLES
    },
    "slow_store": ("aws:ssm:start-automation-execution", {}, None, []),
    "drop_connections": (
        "aws:network:disrupt-connectivity",
        {"scope": "all"},
        "aws:ec2:subnet",
        [f"subnet/{subnet}" for subnet in SUBNETS],
    ),
}

# The FIS action reference's ranges and units for the parameters every action takes.
ISO_DURATION = re.compile(r"^PT(\d+H)?(\d+M)?$")


def _templates(synthesized: SynthesizedApp) -> dict[str, dict[str, Any]]:
    """The synthesized experiment templates by the FAULT_TEMPLATES key they are tagged with."""
    found = synthesized.template.find_resources("AWS::FIS::ExperimentTemplate")
    return {t["Properties"]["Tags"]["stresslab:fault"]: t["Properties"] for t in found.values()}


def _logical_ids(synthesized: SynthesizedApp) -> dict[str, str]:
    found = synthesized.template.find_resources("AWS::FIS::ExperimentTemplate")
    return {t["Properties"]["Tags"]["stresslab:fault"]: key for key, t in found.items()}


def _resources(synthesized: SynthesizedApp) -> dict[str, Any]:
    resources: dict[str, Any] = synthesized.template.to_json()["Resources"]
    return resources


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(synthesized: SynthesizedApp, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for resource in _resources(synthesized).values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_of(template: dict[str, Any]) -> str:
    return str(template["RoleArn"]["Fn::GetAtt"][0])


def _rendered_map(value: Any) -> dict[str, str]:
    """A Stack.to_json_string value as {key: logical id of the GetAtt it holds}."""
    parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
    text = "".join(
        part if isinstance(part, str) else f"<{part['Fn::GetAtt'][0]}>" for part in parts
    )
    rendered: dict[str, str] = json.loads(text)
    return rendered


# -- the vocabulary -----------------------------------------------------------------------------


def test_every_fault_the_context_enables_has_its_template(synthesized: SynthesizedApp) -> None:
    assert set(_templates(synthesized)) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_template_runs_its_action_with_its_parameters_on_its_targets(
    synthesized: SynthesizedApp, key: str
) -> None:
    # Given the template FAULT_TEMPLATES names `key`
    template = _templates(synthesized)[key]
    action_id, parameters, resource_type, resources = EXPECTED[key]

    # Then every action is the vocabulary's, with its parameters and a bounded duration
    actions = template["Actions"].values()
    assert {action["ActionId"] for action in actions} == {action_id}
    for action in actions:
        assert parameters.items() <= action["Parameters"].items()
        duration = action["Parameters"].get("duration") or action["Parameters"]["maxDuration"]
        assert ISO_DURATION.match(duration), duration
    # and it acts on exactly the configured resources
    if resource_type is None:
        assert template["Targets"] == {}
        return
    (target_name, target), = template["Targets"].items()
    assert target["ResourceType"] == resource_type
    assert target["SelectionMode"] == "ALL"
    rendered = json.dumps(target["ResourceArns"])
    assert len(target["ResourceArns"]) == len(resources)
    assert all(resource in rendered for resource in resources)
    for action in actions:
        assert action["Targets"] == {target_name: target_name}


def test_every_template_stops_on_the_blast_radius_alarms_logs_and_needs_its_targets(
    synthesized: SynthesizedApp,
) -> None:
    resources = _resources(synthesized)
    blast_radius = sorted(
        key for key, alarm in resources.items()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"]["AlarmDescription"].startswith("stresslab blast radius:")
    )
    (log_group,) = [
        key for key, resource in resources.items()
        if resource["Type"] == "AWS::Logs::LogGroup"
        and resource["Properties"].get("LogGroupName") == "/aws/vendedlogs/fis/stresslab-dev"
    ]

    assert len(blast_radius) == 2
    for key, template in _templates(synthesized).items():
        stops = template["StopConditions"]
        assert {stop["Source"] for stop in stops} == {"aws:cloudwatch:alarm"}, key
        assert sorted(stop["Value"]["Fn::GetAtt"][0] for stop in stops) == blast_radius, key
        assert template["LogConfiguration"] == {
            "CloudWatchLogsConfiguration": {"LogGroupArn": {"Fn::GetAtt": [log_group, "Arn"]}},
            "LogSchemaVersion": 2,
        }
        assert template["ExperimentOptions"] == {
            "AccountTargeting": "single-account",
            "EmptyTargetResolutionMode": "fail",
        }
        assert template["Tags"]["project"] == "stresslab"
        assert template["Description"].startswith(f"stresslab {key}: ")


def test_fault_templates_reach_the_plan_and_control_functions(
    synthesized: SynthesizedApp,
) -> None:
    logical_ids = _logical_ids(synthesized)
    for handler in ("lambdas.plan.handler", "lambdas.control_api.handler"):
        (function,) = synthesized.template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": handler}}
        ).values()
        templates = _rendered_map(function["Properties"]["Environment"]["Variables"][
            "FAULT_TEMPLATES"
        ])

        # Then FAULT_TEMPLATES names every template, each key its own template's id
        assert templates == {key: f"<{logical_ids[key]}>" for key in EXPECTED}


def test_blast_radius_alarms_sit_above_what_the_faults_cause(
    synthesized: SynthesizedApp,
) -> None:
    # The design brief's critical alarms (1% errors) fire on every injected fault (50% errors):
    # as stop conditions they ended each fault within minutes. FIS stops on these instead.
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in _resources(synthesized).values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"]["AlarmDescription"].startswith("stresslab blast radius:")
    }
    context = synthesized.stack.node.try_get_context
    errors = alarms["ErrorRate"]
    latency = alarms["LatencyP99"]

    assert errors["Threshold"] == 95
    assert errors["Threshold"] > max(context("fault_error_percentage"),
                                     context("fault_throttle_percentage"))
    assert latency["Threshold"] == 30_000
    assert latency["Threshold"] > context("critical_p99_ms") + context("fault_delay_ms")
    for alarm in (errors, latency):
        # sustained, not one bad minute; no run, no breach
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"

    # And docs/faults.md gives both thresholds and the keys that set them
    doc = (ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    for documented in ("fault_stop_error_rate_pct", "fault_stop_p99_ms", "95", "30000",
                       "3 consecutive minutes"):
        assert documented in doc, documented


# -- roles --------------------------------------------------------------------------------------


# The actions each kind of fault's role may take: the FIS actions reference's "Permissions",
# plus vended log delivery.
LOG_DELIVERY = {
    "logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
ROLE_ACTIONS = {
    "agent_errors": {"s3:PutObject", "s3:DeleteObject", "lambda:GetFunction", "tag:GetResources"},
    "throttle:transactions": {"kinesis:InjectApiError", "kinesis:DescribeStreamSummary"},
    "latency:transactions": {"fis:InjectApiThrottleError"},
    "slow_store": {
        "ssm:StartAutomationExecution", "ssm:GetAutomationExecution",
        "ssm:StopAutomationExecution", "iam:PassRole",
    },
    "drop_connections": {
        "ec2:CreateNetworkAcl", "ec2:CreateTags", "ec2:CreateNetworkAclEntry",
        "ec2:DeleteNetworkAcl", "ec2:ReplaceNetworkAclAssociation", "ec2:DescribeVpcs",
        "ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", "ec2:DescribeManagedPrefixLists",
    },
}


def test_each_kind_of_fault_runs_as_a_role_of_its_own_that_only_fis_assumes(
    synthesized: SynthesizedApp,
) -> None:
    templates = _templates(synthesized)
    resources = _resources(synthesized)
    roles = {key: _role_of(template) for key, template in templates.items()}

    # One role per kind: every Lambda fault shares one, the others each have their own
    assert len(set(roles.values())) == len(ROLE_ACTIONS)
    for key, actions in ROLE_ACTIONS.items():
        role = roles[key]
        granted = {
            action for statement in _statements(synthesized, role)
            for action in _as_list(statement["Action"])
        }
        assert granted == actions | LOG_DELIVERY, key
        (trust,) = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
        assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
        assert "experiment/*" in json.dumps(trust["Condition"]["ArnLike"])


def _granted(synthesized: SynthesizedApp, key: str, action: str) -> list[dict[str, Any]]:
    role = _role_of(_templates(synthesized)[key])
    return [s for s in _statements(synthesized, role) if action in _as_list(s["Action"])]


def test_roles_reach_only_the_configured_resources(synthesized: SynthesizedApp) -> None:
    # Lambda: the configured functions, and fault configurations under FisConfigs/
    (get_function,) = _granted(synthesized, "latency", "lambda:GetFunction")
    assert sorted(get_function["Resource"]) == FUNCTION_ARNS
    (put,) = _granted(synthesized, "latency", "s3:PutObject")
    assert json.dumps(put["Resource"]).endswith('"/FisConfigs/*"]]}')

    # Kinesis: the stream, by the conditions the FIS user guide uses
    (inject,) = _granted(synthesized, "throttle:transactions", "kinesis:InjectApiError")
    assert inject["Condition"]["ForAllValues:StringEquals"] == {
        "kinesis:FisActionId": ["aws:kinesis:stream-provisioned-throughput-exception"],
        "kinesis:FisTargetArns": [STREAM_ARN],
    }
    (describe,) = _granted(synthesized, "throttle:transactions", "kinesis:DescribeStreamSummary")
    assert describe["Resource"] == STREAM_ARN

    # Kinesis lag: GetRecords of the consumer role only
    (throttle,) = _granted(synthesized, "latency:transactions", "fis:InjectApiThrottleError")
    assert throttle["Condition"] == {
        "StringEquals": {"fis:Service": "kinesis"},
        "ForAllValues:StringEquals": {
            "fis:Operations": ["GetRecords"], "fis:Targets": [CONSUMER_ROLE],
        },
    }

    # Store: the stack's runbook, passing only its own role to SSM
    (start,) = _granted(synthesized, "slow_store", "ssm:StartAutomationExecution")
    assert "automation-definition/" in json.dumps(start["Resource"])
    assert "FaultTemplatesStoreThrottleRunbook" in json.dumps(start["Resource"])
    (pass_role,) = _granted(synthesized, "slow_store", "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}
    assert "StoreThrottleAutomationRole" in pass_role["Resource"]["Fn::GetAtt"][0]

    # Network: only the configured subnets change network ACL; new ACLs must carry FIS's tag
    (replace,) = _granted(synthesized, "drop_connections", "ec2:ReplaceNetworkAclAssociation")
    subnets = [r for r in replace["Resource"] if "subnet/" in json.dumps(r)]
    assert len(subnets) == len(SUBNETS)
    create_acl = _granted(synthesized, "drop_connections", "ec2:CreateNetworkAcl")
    tagged = [s for s in create_acl if "network-acl/*" in json.dumps(s["Resource"])]
    assert [s["Condition"] for s in tagged] == [
        {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}}
    ]


def test_fault_wildcards_are_acknowledged_one_by_one(synthesized: SynthesizedApp) -> None:
    acknowledged = {
        re.sub(r"[0-9A-F]{8}\b", "", rule)
        for construct in synthesized.stack.node.find_all()
        if "/FaultTemplates/" in construct.node.path
        for entry in construct.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
    }

    # Then each acknowledgement names the one wildcard it excuses: nothing is blanket
    assert all("AwsSolutions-IAM5[" in rule for rule in acknowledged), acknowledged
    assert {re.sub(r"^.*AwsSolutions-IAM5\[", "", rule) for rule in acknowledged} == {
        "Resource::*]",
        "Resource::<FaultTemplatesConfigBucket.Arn>/FisConfigs/*]",
        "Resource::arn:<AWS::Partition>:fis:<AWS::Region>:<AWS::AccountId>:experiment/*]",
        "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:automation-definition"
        "/<FaultTemplatesStoreThrottleRunbook>:*]",
        "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:"
        "automation-execution/*]",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-acl/*]",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:vpc/*]",
    }


# -- what the platform team attaches to its functions ------------------------------------------


def test_the_platform_gets_the_extension_read_policy_and_configuration_location(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    (policy_id, policy), = template.find_resources("AWS::IAM::ManagedPolicy").items()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    outputs = template.to_json()["Outputs"]

    # The FIS user guide's read policy for the extension, on stresslab's configuration bucket
    assert [(s["Action"], s.get("Condition")) for s in statements] == [
        ("s3:ListBucket", {"StringLike": {"s3:prefix": ["FisConfigs/*"]}}),
        ("s3:GetObject", None),
    ]
    assert json.dumps(statements[1]["Resource"]).endswith('"/FisConfigs/*"]]}')
    assert outputs["FisExtensionPolicyArn"]["Value"] == {"Ref": policy_id}
    assert json.dumps(outputs["FisConfigurationLocation"]["Value"]).endswith('"/FisConfigs/"]]}')
    assert "FisExperimentLogGroup" in outputs


# -- the store-throttle runbook -----------------------------------------------------------------


def test_the_store_runbook_restores_on_failure_cancel_and_after_the_hold(
    synthesized: SynthesizedApp,
) -> None:
    (document,) = synthesized.template.find_resources("AWS::SSM::Document").values()
    content = document["Properties"]["Content"]
    steps = {step["name"]: step for step in content["mainSteps"]}

    assert document["Properties"]["DocumentType"] == "Automation"
    assert content["schemaVersion"] == "0.3"
    assert content["assumeRole"] == "{{ AutomationAssumeRole }}"
    assert [step["name"] for step in content["mainSteps"]] == ["Throttle", "Hold", "Restore"]
    for name in ("Throttle", "Hold"):
        assert steps[name]["onFailure"] == steps[name]["onCancel"] == "step:Restore"
        assert steps[name].get("isCritical", True)
    assert steps["Hold"]["action"] == "aws:sleep"
    assert steps["Restore"]["isEnd"] is True and steps["Restore"]["maxAttempts"] == 3
    for name, handler in (("Throttle", "throttle"), ("Restore", "restore")):
        assert steps[name]["action"] == "aws:executeScript"
        assert steps[name]["inputs"]["Handler"] == handler
        assert steps[name]["inputs"]["Script"] == SCRIPT
        assert callable(getattr(store_throttle, handler))


def test_the_store_runbook_runs_as_a_role_limited_to_the_tables(
    synthesized: SynthesizedApp,
) -> None:
    resources = _resources(synthesized)
    (role_id,) = [
        key for key, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role" and "StoreThrottleAutomationRole" in key
    ]
    (trust,) = resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (statement,) = _statements(synthesized, role_id)

    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert "automation-execution/*" in json.dumps(trust["Condition"]["ArnLike"])
    assert set(statement["Action"]) == {
        "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource", "dynamodb:UntagResource",
    }
    rendered = [json.dumps(resource) for resource in statement["Resource"]]
    assert len(rendered) == len(TABLES)
    assert all(any(f":table/{table}" in r for r in rendered) for table in TABLES)


def test_the_store_template_hands_the_runbook_its_table_role_and_hold(
    synthesized: SynthesizedApp,
) -> None:
    (action,) = _templates(synthesized)["slow_store:decisions"]["Actions"].values()
    parameters = _rendered_map(action["Parameters"]["documentParameters"])

    assert parameters["TableName"] == "decisions"
    assert parameters["Units"] == "1"
    assert parameters["HoldDuration"] == "PT2H"
    assert "StoreThrottleAutomationRole" in parameters["AutomationAssumeRole"]
    # FIS must outlive the runbook's lowering, hold and restore, or it cuts the restore short
    assert action["Parameters"]["maxDuration"] == "PT2H40M"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def _table(dynamodb: Any, name: str, **billing: Any) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        **billing,
    )


def _capacity(dynamodb: Any, name: str) -> tuple[int, int]:
    throughput = dynamodb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]


def test_the_runbook_script_lowers_a_provisioned_table_and_restores_it(dynamodb: Any) -> None:
    # Given a provisioned table of 50 reads and 20 writes
    _table(dynamodb, "decisions",
           ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 20})
    event = {"TableName": "decisions", "Units": "5"}

    # When the runbook throttles it twice (two overlapping experiments) and restores it
    store_throttle.throttle(event, None, client=dynamodb)
    store_throttle.throttle({**event, "Units": "1"}, None, client=dynamodb)
    lowered = _capacity(dynamodb, "decisions")
    restored = store_throttle.restore(event, None, client=dynamodb)

    # Then it was held down, and the original capacity (kept by the first) comes back
    assert lowered == (1, 1)
    assert restored == {"table": "decisions", "restored": True, "read": 50, "write": 20}
    assert _capacity(dynamodb, "decisions") == (50, 20)
    arn = dynamodb.describe_table(TableName="decisions")["Table"]["TableArn"]
    assert dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
    # and a second restore (a retried step) changes nothing
    assert store_throttle.restore(event, None, client=dynamodb)["restored"] is False


def test_the_runbook_script_never_raises_capacity(dynamodb: Any) -> None:
    _table(dynamodb, "small",
           ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 1})

    store_throttle.throttle({"TableName": "small", "Units": "5"}, None, client=dynamodb)

    assert _capacity(dynamodb, "small") == (2, 1)


class _OnDemandMaximums:
    """moto accepts OnDemandThroughput but does not keep it: keep it here, botocore still
    validates every request."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.maximum: dict[str, int] | None = None

    def update_table(self, **request: Any) -> Any:
        self.maximum = dict(request["OnDemandThroughput"])
        return self._client.update_table(**request)

    def describe_table(self, **request: Any) -> Any:
        answer = self._client.describe_table(**request)
        if self.maximum is not None:
            answer["Table"]["OnDemandThroughput"] = self.maximum
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_the_runbook_script_caps_an_on_demand_table_and_removes_the_cap(dynamodb: Any) -> None:
    # Given an on-demand table without a maximum throughput
    _table(dynamodb, "history", BillingMode="PAY_PER_REQUEST")
    client = _OnDemandMaximums(dynamodb)
    event = {"TableName": "history", "Units": "3"}

    # When the runbook throttles it, then restores it
    throttled = store_throttle.throttle(event, None, client=client)
    capped = client.maximum
    store_throttle.restore(event, None, client=client)

    # Then the table was capped at 3 units, and the cap removed again (-1)
    assert throttled["mode"] == "PAY_PER_REQUEST"
    assert capped == {"MaxReadRequestUnits": 3, "MaxWriteRequestUnits": 3}
    assert client.maximum == {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1}


# -- what the context enables -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "keys"),
    [
        (PlatformUnderTest(), set()),
        (PlatformUnderTest(subnet_ids=["subnet-0a1b2c3d4e5f60718"]), {"drop_connections"}),
        (PlatformUnderTest(table_names=["decisions"]), {"slow_store", "slow_store:decisions"}),
        (
            PlatformUnderTest(stream_arns=[STREAM_ARN]),
            {"throttle:transactions"},
        ),
        (
            PlatformUnderTest(function_arns={"compliance": FUNCTION_ARNS[0]}),
            {
                f"{fault}{target}"
                for fault in ("agent_errors", "agent_down", "latency", "throttle")
                for target in ("", ":compliance")
            },
        ),
    ],
)
def test_only_what_the_context_names_gets_templates(
    platform: PlatformUnderTest, keys: set[str]
) -> None:
    stack = cdk.Stack(cdk.App())
    faults = FaultTemplates(
        stack, "FaultTemplates", platform=platform, intensities=FaultIntensities(),
        stop_alarms=[], access_log_bucket=s3.Bucket.from_bucket_name(stack, "Logs", "logs"),
        log_retention=logs.RetentionDays.ONE_DAY,
    )
    template = Template.from_stack(stack)

    assert set(faults.template_ids) == keys
    assert len(faults.template_arns) == len(keys)
    template.resource_count_is("AWS::FIS::ExperimentTemplate", len(keys))
    # The FIS Lambda extension's bucket and policy exist only for Lambda faults
    assert (faults.configuration_location is not None) == bool(platform.function_arns)
    template.resource_count_is("AWS::IAM::ManagedPolicy", 1 if platform.function_arns else 0)
    template.resource_count_is("AWS::SSM::Document", 1 if platform.table_names else 0)
    if not keys:
        template.resource_count_is("AWS::IAM::Role", 0)
        template.resource_count_is("AWS::Logs::LogGroup", 0)


def test_iso_durations_are_whole_minutes_as_fis_takes_them() -> None:
    from datetime import timedelta

    assert [
        iso_duration(timedelta(hours=2)),
        iso_duration(timedelta(hours=2, minutes=40)),
        iso_duration(timedelta(minutes=5)),
    ] == ["PT2H", "PT2H40M", "PT5M"]


def test_the_docs_say_what_template_id_does_for_an_unknown_target() -> None:
    # Given a targeted fault whose target has no template of its own
    from stresslab.aws.faults import template_id

    assert template_id({"throttle": "EXTall"}, "throttle", "unknown-stream") is None

    # Then docs/faults.md says the same: no fallback to the all-targets template
    doc = " ".join((ROOT / "docs" / "faults.md").read_text(encoding="utf-8").split())
    doc = doc.replace("*", "")
    assert "does not know falls back" not in doc
    assert "A target the context does not know has no template" in doc
    assert "A targeted fault never falls back to the all-targets template" in doc
