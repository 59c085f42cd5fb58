"""Infrastructure tests: what a real deploy and a real run would hit (AWS quotas, account-wide
settings, FIS permissions and stop conditions), asserted on the synthesized templates."""

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.context import read_cdk_json_context
from tests.infrastructure.conftest import ROOT, TEST_CONTEXT, SynthesizedApp

ASL = ROOT / "step_functions" / "run_scenario.asl.json"

# Lambda: "the total size of all environment variables doesn't exceed 4 KB".
LAMBDA_ENVIRONMENT_LIMIT = 4 * 1024

# The longest value CloudFormation can give each intrinsic at deploy time: physical names it
# generates stay under these lengths; ARNs are bounded by their longest name.
_LONGEST = {"Ref": 128, "Arn": 256, "Id": 32, "other": 128}
_PSEUDO = {"AWS::Region": 14, "AWS::AccountId": 12, "AWS::Partition": 10,
           "AWS::URLSuffix": 13, "AWS::StackName": 128, "AWS::StackId": 160}


def _longest(value: Any) -> str:
    """A deploy-time value as the longest string it can become (x repeated)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        ((fn, args),) = value.items()
        if fn == "Ref":
            return "x" * _PSEUDO.get(args, _LONGEST["Ref"])
        if fn == "Fn::GetAtt":
            return "x" * _LONGEST.get(args[1], _LONGEST["other"])
        if fn == "Fn::Join":
            return str(args[0]).join(_longest(part) for part in args[1])
    return "x" * _LONGEST["other"]


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources("AWS::Lambda::Function")


def _environment_size(function: dict[str, Any]) -> int:
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    return len(json.dumps({key: _longest(value) for key, value in variables.items()}))


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


# -- Lambda environment -------------------------------------------------------------------------


def test_the_test_context_is_the_large_one() -> None:
    # Given the context these tests synthesize: many platform functions and extra metrics
    assert len(TEST_CONTEXT["platform_function_arns"]) >= 8
    assert TEST_CONTEXT["watched_metrics"]


def test_every_function_environment_stays_under_lambdas_4_kb(synthesized: SynthesizedApp) -> None:
    # Given every function of both stacks, with each deploy-time value at its longest
    sizes = {
        key: _environment_size(function)
        for template in (synthesized.template, synthesized.reference_template)
        for key, function in _functions(template).items()
    }

    # Then none passes Lambda's limit (a deploy would roll back)
    too_big = {key: size for key, size in sizes.items() if size > LAMBDA_ENVIRONMENT_LIMIT}
    assert not too_big, too_big


def test_a_context_whose_fault_templates_would_not_fit_is_refused_in_one_line() -> None:
    # Given twice the test context's platform functions (FAULT_TEMPLATES grows with each)
    functions = {
        f"{name}_b": arn.replace(":function:", ":function:b-")
        for name, arn in TEST_CONTEXT["platform_function_arns"].items()
    }
    context = {**read_cdk_json_context(ROOT / "cdk.json"), **TEST_CONTEXT,
               "platform_function_arns": {**TEST_CONTEXT["platform_function_arns"], **functions}}

    # When the stacks are built, synthesis stops with one line naming the limit
    with pytest.raises(SystemExit) as refused:
        cdk_app.build(cdk.App(context=context))
    message = str(refused.value)
    assert "\n" not in message and "Lambda's 4 KB environment" in message
    assert "makes 74 fault templates" in message  # 4 types x (16 functions + all), and 6


def test_watched_metrics_are_a_json_object_the_stack_writes_not_an_environment_variable(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    (reader_id, reader) = next(
        (key, fn) for key, fn in _functions(template).items()
        if fn["Properties"]["Handler"] == "lambdas.infra_metrics.handler"
    )
    variables = reader["Properties"]["Environment"]["Variables"]

    # Then the function is told where the list is, not the list itself
    assert "WATCHED_METRICS" not in variables
    assert variables["WATCHED_METRICS_KEY"] == "config/watched-metrics.json"
    bucket = variables["WATCHED_METRICS_BUCKET"]

    # And a deployment writes it there, with every platform function's metrics and the extras
    ((deployment_id, deployment),) = template.find_resources("Custom::CDKBucketDeployment", {
        "Properties": {"DestinationBucketKeyPrefix": "config/"}
    }).items()
    assert deployment["Properties"]["DestinationBucketName"] == bucket
    assert deployment["Properties"]["Prune"] is False
    (asset,) = synthesized.outdir.glob("asset.*/watched-metrics.json")
    watched = json.loads(re.sub(r"<<marker:0xbaba:(\d+)>>", "\"marker\"", asset.read_text()))
    functions = {m["dimensions"].get("FunctionName") for m in watched}
    for arn in TEST_CONTEXT["platform_function_arns"].values():
        assert arn.rsplit(":", 1)[-1] in functions
    assert {m["label"] for m in TEST_CONTEXT["watched_metrics"]} <= {m["label"] for m in watched}
    assert len({m["id"] for m in watched}) == len(watched)

    # And the function may read that one object
    readable = [
        s for s in _statements(template)
        if "s3:GetObject" in _actions(s) and "config/watched-metrics.json" in json.dumps(s)
    ]
    assert readable, "the infra metrics function cannot read its watched metrics"
    # And it is created only once the object is there
    assert deployment_id in template.to_json()["Resources"][reader_id].get("DependsOn", [])


def test_the_results_bucket_expires_only_run_outputs(synthesized: SynthesizedApp) -> None:
    # The watched-metrics object lives in the results bucket and must outlive the retention
    buckets = synthesized.template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
    )
    (bucket,) = buckets.values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [rule.get("Prefix") for rule in rules if "ExpirationInDays" in rule] == ["runs/"]


# -- API Gateway account setting ---------------------------------------------------------------


def test_the_stack_does_not_own_the_regions_api_gateway_logging_role(
    synthesized: SynthesizedApp,
) -> None:
    for template in (synthesized.template, synthesized.reference_template):
        assert template.find_resources("AWS::ApiGateway::Account") == {}
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "aws apigateway update-account" in doc


# -- FIS: service-linked role and scoped stops --------------------------------------------------


def test_whoever_starts_experiments_may_create_the_fis_service_linked_role(
    synthesized: SynthesizedApp,
) -> None:
    statements = _statements(synthesized.template)
    starters = [s for s in statements if "fis:StartExperiment" in _actions(s)]
    slr = [s for s in statements if "iam:CreateServiceLinkedRole" in _actions(s)]

    assert starters
    # One per principal that starts experiments (state machine, control API)
    assert len(slr) == len(starters)
    for statement in slr:
        assert statement["Action"] == "iam:CreateServiceLinkedRole"
        assert statement["Condition"] == {
            "StringEquals": {"iam:AWSServiceName": "fis.amazonaws.com"}
        }
        rendered = json.dumps(statement["Resource"])
        assert "role/aws-service-role/fis.amazonaws.com/AWSServiceRoleForFIS" in rendered


def test_stop_experiment_is_held_to_the_stacks_own_experiments(
    synthesized: SynthesizedApp,
) -> None:
    stack_name = synthesized.stack.stack_name
    stops = [s for s in _statements(synthesized.template) if "fis:StopExperiment" in _actions(s)]

    assert stops
    for statement in stops:
        assert _actions(statement) == ["fis:StopExperiment"] or statement["Action"] == (
            "fis:StopExperiment"
        )
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceTag/stresslab:stack": stack_name}
        }


def test_experiments_are_started_with_the_stack_tag(synthesized: SynthesizedApp) -> None:
    stack_name = synthesized.stack.stack_name
    starts = [s for s in _statements(synthesized.template) if "fis:StartExperiment" in _actions(s)]
    for statement in starts:
        # A start without the tag is refused, so nothing starts an experiment it cannot stop
        assert statement["Condition"] == {
            "StringEquals": {"aws:RequestTag/stresslab:stack": stack_name}
        }
    # And both starters tag: the state machine in the ASL, the control API from its environment
    (control,) = [
        fn for fn in _functions(synthesized.template).values()
        if fn["Properties"]["Handler"] == "lambdas.control_api.handler"
    ]
    assert control["Properties"]["Environment"]["Variables"]["STACK_NAME"] == stack_name
    asl = json.loads(ASL.read_text())
    timeline = asl["States"]["RunWaves"]["Branches"][2]["States"]["FaultTimeline"]
    start = timeline["ItemProcessor"]["States"]["StartFault"]
    assert start["Parameters"]["Tags"]["stresslab:stack"] == "${StackName}"


# -- Distributed Map ---------------------------------------------------------------------------


def test_load_generator_children_return_nothing_to_the_map() -> None:
    # 1,000 children each returning their counts pass the 256 KB limit of the Map's result
    asl = json.loads(ASL.read_text())
    for lane in (0, 1):
        branch = asl["States"]["RunWaves"]["Branches"][lane]["States"]
        (wave,) = [s for s in branch.values() if s["Type"] == "Map"]
        assert wave["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert wave["ResultPath"] is None
        (task,) = wave["ItemProcessor"]["States"].values()
        assert task["ResultSelector"] == {}
        assert "OutputPath" not in task


# -- the public reference target ---------------------------------------------------------------


def test_reference_target_has_reserved_concurrency_and_its_api_a_key(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.reference_template
    (service,) = [
        fn for fn in _functions(template).values()
        if fn["Properties"]["Handler"] == "lambdas.reference_target.handler"
    ]
    # A run against it cannot take the account's concurrency (Stop and cleanup need some)
    assert service["Properties"]["ReservedConcurrentExecutions"] == 100

    # Its one route answers only with the key: a Lambda authorizer on x-api-key, cached
    ((authorizer_id, authorizer),) = template.find_resources(
        "AWS::ApiGatewayV2::Authorizer").items()
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST"
    assert props["IdentitySource"] == ["$request.header.x-api-key"]
    assert props["EnableSimpleResponses"] is True
    assert props["AuthorizerResultTtlInSeconds"] == 300
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    assert routes and all(
        r["Properties"]["AuthorizationType"] == "CUSTOM"
        and r["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}
        for r in routes.values()
    )

    # The key is a generated secret tagged for the load generators, and in no output
    ((secret_id, secret),) = template.find_resources("AWS::SecretsManager::Secret").items()
    assert {"Key": "stresslab:target-key", "Value": "true"} in secret["Properties"]["Tags"]
    outputs = template.to_json()["Outputs"]
    assert outputs["ReferenceTargetKeySecretArn"]["Value"] == {"Ref": secret_id}
    assert "resolve:secretsmanager" not in json.dumps(outputs)


def test_load_generators_read_only_tagged_target_keys(synthesized: SynthesizedApp) -> None:
    reads = [
        s for s in _statements(synthesized.template)
        if "secretsmanager:GetSecretValue" in _actions(s)
    ]
    (statement,) = [s for s in reads if "secret:*" in json.dumps(s["Resource"])]
    assert statement["Condition"] == {
        "StringEquals": {"secretsmanager:ResourceTag/stresslab:target-key": "true"}
    }
