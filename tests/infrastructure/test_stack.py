"""Infrastructure tests: the resources of the synthesized stacks and the properties that matter."""

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from stacks.constructs.dashboard_site import DashboardSite
from stacks.constructs.functions import FunctionFactory
from stacks.constructs.metrics_stream import MetricsStream
from stacks.constructs.orchestration import Orchestration, RunLimits, asl_placeholders
from stacks.packaging import StagedAsset
from tests.infrastructure.conftest import ROOT, SynthesizedApp

ASL = ROOT / "step_functions" / "run_scenario.asl.json"

# The variables each handler reads: docs/aws-runtime.md ("Lambda functions"), plus the plan's
# FAULT_TEMPLATES and the control API's MAX_WORKERS, which the handlers read beyond it.
CONTRACT_ENV = {
    "lambdas.plan.handler": {
        "TABLE_NAME", "MAX_TPS", "MAX_DURATION_S", "MAX_WORKERS", "FAULT_TEMPLATES",
    },
    "lambdas.load_generator.handler": {"METRICS_STREAM_NAME", "TABLE_NAME"},
    "lambdas.aggregator.handler": {"TABLE_NAME", "WS_ENDPOINT"},
    "lambdas.evaluate.handler": {"TABLE_NAME", "RESULTS_BUCKET"},
    "lambdas.cleanup.handler": {"TABLE_NAME"},
    "lambdas.ws_connect.handler": {
        "TABLE_NAME", "VIEWER_LINK_SECRET_ARN", "USER_POOL_ID", "USER_POOL_CLIENT_ID",
    },
    "lambdas.rotate_viewer_key.handler": set(),
    "lambdas.ws_disconnect.handler": {"TABLE_NAME"},
    "lambdas.ws_default.handler": {"TABLE_NAME", "WS_ENDPOINT"},
    "lambdas.control_api.handler": {
        "TABLE_NAME", "STATE_MACHINE_ARN", "RESULTS_BUCKET", "VIEWER_LINK_SECRET_ARN",
        "PRESENTATION_URL", "MAX_TPS", "MAX_DURATION_S", "MAX_WORKERS", "FAULT_TEMPLATES",
    },
    "lambdas.infra_metrics.handler": {
        "TABLE_NAME", "WATCHED_METRICS_BUCKET", "WATCHED_METRICS_KEY",
    },
    "lambdas.reference_target.handler": {"BEDROCK_ENABLED", "BEDROCK_MODEL_ID"},
    "lambdas.reference_target_authorizer.handler": {"TARGET_KEY_SECRET_ARN"},
}

def _resources(template: Template, resource_type: str, props: Any = None) -> dict[str, Any]:
    return template.find_resources(resource_type, {"Properties": props} if props else None)


def _only(template: Template, resource_type: str, props: Any = None) -> tuple[str, dict[str, Any]]:
    (item,) = _resources(template, resource_type, props).items()
    return item


def _function_id(template: Template, handler: str) -> str:
    return _only(template, "AWS::Lambda::Function", {"Handler": handler})[0]


def _asl_states(states: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in states.values():
        found.append(state)
        for nested in ("ItemProcessor", "Iterator"):
            if nested in state:
                found.extend(_asl_states(state[nested]["States"]))
        for branch in state.get("Branches", []):
            found.extend(_asl_states(branch["States"]))
    return found


# -- Orchestration ------------------------------------------------------------------------------


def test_every_asl_placeholder_has_a_substitution_and_nothing_more(
    synthesized: SynthesizedApp,
) -> None:
    # Given the placeholders the ASL file holds
    placeholders = asl_placeholders(ASL)

    # Then the state machine substitutes exactly those, each with the ARN of its function
    _, machine = _only(synthesized.template, "AWS::StepFunctions::StateMachine")
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders
    template = synthesized.template
    handlers = {
        "PlanFunctionArn": "lambdas.plan.handler",
        "LoadGeneratorFunctionArn": "lambdas.load_generator.handler",
        "EvaluateFunctionArn": "lambdas.evaluate.handler",
        "CleanupFunctionArn": "lambdas.cleanup.handler",
    }
    for placeholder, handler in handlers.items():
        assert substitutions[placeholder] == {
            "Fn::GetAtt": [_function_id(template, handler), "Arn"]
        }
    # and the names: the run table (fault failures are recorded there) and the stack (its tag)
    table_id, _ = _only(template, "AWS::DynamoDB::Table")
    assert substitutions["RunTableName"] == {"Ref": table_id}
    assert substitutions["StackName"] == synthesized.stack.stack_name


def test_load_generators_run_in_a_distributed_map(synthesized: SynthesizedApp) -> None:
    # Given the ASL the state machine is deployed from (an S3 asset, so read the file)
    states = _asl_states(json.loads(ASL.read_text(encoding="utf-8"))["States"])
    _, machine = _only(synthesized.template, "AWS::StepFunctions::StateMachine")
    assert "DefinitionS3Location" in machine["Properties"]

    # Then the load generator is invoked only from Map states in DISTRIBUTED mode
    waves = [
        state for state in states
        if state["Type"] == "Map"
        and "${LoadGeneratorFunctionArn}" in json.dumps(state.get("ItemProcessor", {}))
    ]
    assert waves
    for wave in waves:
        assert wave["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_state_machine_logs_everything_traces_and_is_standard(synthesized: SynthesizedApp) -> None:
    synthesized.template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}
                ],
            },
        },
    )


def test_state_machine_may_run_its_child_executions_and_invoke_its_functions(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    machine_id, _ = _only(template, "AWS::StepFunctions::StateMachine")
    statements = _statements_of_role(template, _role_of(template, machine_id))
    actions = {action for statement in statements for action in _as_list(statement["Action"])}

    assert {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"} <= actions
    start = next(s for s in statements if "states:StartExecution" in _as_list(s["Action"]))
    assert start["Resource"] == {"Ref": machine_id}
    invoked = json.dumps(
        [s["Resource"] for s in statements if "lambda:InvokeFunction" in _as_list(s["Action"])]
    )
    for handler in ("plan", "load_generator", "evaluate", "cleanup"):
        assert _function_id(template, f"lambdas.{handler}.handler") in invoked
    assert {"fis:StartExperiment", "fis:StopExperiment", "fis:TagResource"} <= actions


def test_load_generator_has_fifteen_minutes_its_memory_and_reserved_concurrency(
    synthesized: SynthesizedApp,
) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.load_generator.handler",
            "Timeout": 900,
            "MemorySize": 1769,
            "ReservedConcurrentExecutions": 200,  # two overlapping waves of max_workers
        },
    )


def test_every_function_is_python312_x86_with_the_contract_environment(
    synthesized: SynthesizedApp,
) -> None:
    functions = {
        **_resources(synthesized.template, "AWS::Lambda::Function"),
        **_resources(synthesized.reference_template, "AWS::Lambda::Function"),
    }
    ours = {
        key: fn for key, fn in functions.items()
        if fn["Properties"]["Handler"].startswith("lambdas.")
    }

    assert {fn["Properties"]["Handler"] for fn in ours.values()} == set(CONTRACT_ENV)
    parameters = {
        **synthesized.template.to_json()["Parameters"],
        **synthesized.reference_template.to_json()["Parameters"],
    }
    for fn in ours.values():
        props = fn["Properties"]
        module = props["Handler"].rsplit(".", 1)[0]
        assert (ROOT / f"{module.replace('.', '/')}.py").is_file(), module
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        ((_, layer_parameter),) = [item for layer in props["Layers"] for item in layer.items()]
        assert parameters[layer_parameter]["Default"] == (
            "/aws/service/powertools/python/x86_64/python3.12/3.37.0"
        )
        assert CONTRACT_ENV[props["Handler"]] <= set(props["Environment"]["Variables"])


# -- Metrics pipeline ---------------------------------------------------------------------------


def test_aggregator_reads_the_stream_with_partial_failures_bisect_retries_and_a_dlq(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    stream_id, _ = _only(template, "AWS::Kinesis::Stream")
    queue_id, _ = _only(template, "AWS::SQS::Queue")

    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": _function_id(template, "lambdas.aggregator.handler")},
            "EventSourceArn": {"Fn::GetAtt": [stream_id, "Arn"]},
            "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 5,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
            },
        },
    )


def test_run_table_is_keyed_pk_sk_with_ttl_pitr_and_kms(synthesized: SynthesizedApp) -> None:
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            # Enabled without a key of its own: the AWS managed key alias/aws/dynamodb.
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_streams_queues_and_buckets_are_encrypted(synthesized: SynthesizedApp) -> None:
    template = synthesized.template
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {"StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}},
    )
    template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )


# -- Live updates and control API ---------------------------------------------------------------


def test_websocket_api_routes_connect_disconnect_default_to_their_handlers(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    api_id, _ = _only(template, "AWS::ApiGatewayV2::Api", {"ProtocolType": "WEBSOCKET"})
    on_api = {"ApiId": {"Ref": api_id}}
    integrations = _resources(template, "AWS::ApiGatewayV2::Integration", on_api)
    routes = _resources(template, "AWS::ApiGatewayV2::Route", on_api)

    handler_of_route = {}
    for route in routes.values():
        integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        uri = json.dumps(integrations[integration_id]["Properties"]["IntegrationUri"])
        handler_of_route[route["Properties"]["RouteKey"]] = uri
    assert set(handler_of_route) == {"$connect", "$disconnect", "$default"}
    for route_key, handler in [
        ("$connect", "ws_connect"), ("$disconnect", "ws_disconnect"), ("$default", "ws_default"),
    ]:
        assert _function_id(template, f"lambdas.{handler}.handler") in handler_of_route[route_key]
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "ApiId": {"Ref": api_id},
            "StageName": "live",
            "AutoDeploy": True,
            "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        },
    )
    # The region's API Gateway CloudWatch role is a one-time account step (docs/deploy.md)
    template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_push_is_limited_to_posting_to_connections_of_the_live_stage(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    grants = [
        statement
        for policy in _resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "execute-api:ManageConnections" in _as_list(statement["Action"])
    ]

    assert len(grants) == 2  # the aggregator and the $default handler
    for grant in grants:
        assert json.dumps(grant["Resource"]).endswith('"/live/POST/@connections/*"]]}')


def test_every_control_api_route_but_the_presentations_reads_needs_an_operator_pool_jwt(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    api_id, _ = _only(template, "AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    pool_id, _ = _only(template, "AWS::Cognito::UserPool")
    client_id, _ = _only(template, "AWS::Cognito::UserPoolClient")
    authorizer_id, authorizer = _only(
        template, "AWS::ApiGatewayV2::Authorizer", {"ApiId": {"Ref": api_id}}
    )

    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["JwtConfiguration"]["Audience"] == [{"Ref": client_id}]
    assert pool_id in json.dumps(authorizer["Properties"]["JwtConfiguration"]["Issuer"])
    routes = _resources(template, "AWS::ApiGatewayV2::Route", {"ApiId": {"Ref": api_id}})
    public = {"GET /profiles", "GET /profiles/{name}", "GET /benchmarks"}
    keys = {route["Properties"]["RouteKey"] for route in routes.values()}
    assert public < keys and "GET /{proxy+}" in keys
    for route in routes.values():
        if route["Properties"]["RouteKey"] in public:
            assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"
            continue
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}
        assert not route["Properties"]["RouteKey"].startswith(("OPTIONS", "ANY"))


def test_operators_pool_is_invite_only_with_mfa_and_an_operators_group(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
        },
    )
    template.has_resource_properties("AWS::Cognito::UserPoolGroup", {"GroupName": "operators"})
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"GenerateSecret": False, "ExplicitAuthFlows": Match.array_with(["ALLOW_USER_SRP_AUTH"])},
    )


def test_control_api_gets_the_ceilings_from_context(synthesized: SynthesizedApp) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.control_api.handler",
            "Environment": {
                "Variables": Match.object_like({"MAX_TPS": "10000", "MAX_DURATION_S": "7200"})
            },
        },
    )


# -- Dashboard site -----------------------------------------------------------------------------


def test_site_is_served_by_cloudfront_through_origin_access_control(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    oac_id, _ = _only(
        template,
        "AWS::CloudFront::OriginAccessControl",
        {"OriginAccessControlConfig": Match.object_like({"SigningBehavior": "always",
                                                         "OriginAccessControlOriginType": "s3"})},
    )
    _, distribution = _only(template, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]

    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "ResponseHeadersPolicyId" in config["DefaultCacheBehavior"]
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                                "Condition": {"StringEquals": {"AWS:SourceArn": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_site_sends_security_headers(synthesized: SynthesizedApp) -> None:
    _, policy = _only(synthesized.template, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]

    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ContentTypeOptions"]["Override"] is True
    assert "frame-ancestors 'none'" in json.dumps(headers["ContentSecurityPolicy"])


def test_site_deployment_writes_config_json_from_stack_values(synthesized: SynthesizedApp) -> None:
    # Given the config.json asset the deployment uploads, whose stack values are markers that
    # the deployment replaces at deploy time
    (config_asset,) = synthesized.outdir.glob("asset.*/config.json")
    text = config_asset.read_text(encoding="utf-8")
    config = json.loads(re.sub(r"<<marker:0xbaba:(\d+)>>", r'"marker \1"', text))
    _, deployment = _only(
        synthesized.template, "Custom::CDKBucketDeployment", {"DistributionPaths": ["/*"]}
    )
    (markers,) = [m for m in deployment["Properties"]["SourceMarkers"] if m]
    value = {
        key: json.dumps(markers[f"<<marker:0xbaba:{ref.split()[1]}>>"])
        for key, ref in config.items()
        if str(ref).startswith("marker ")
    }

    # Then the site learns the API, the WebSocket and the operator pool from the stack
    template = synthesized.template
    pool_id, _ = _only(template, "AWS::Cognito::UserPool")
    client_id, _ = _only(template, "AWS::Cognito::UserPoolClient")
    assert config["mode"] == "aws"
    assert f'{{"Ref": "{pool_id}"}}' in value["user_pool_id"]
    assert f'{{"Ref": "{client_id}"}}' in value["user_pool_client_id"]
    assert "wss://" in value["ws_url"] and "https://" in value["api_url"]
    assert deployment["Properties"]["DistributionPaths"] == ["/*"]


# -- Safety (the fault templates: test_fault_templates.py) --------------------------------------


def test_alarms_watch_the_seeds_thresholds(synthesized: SynthesizedApp) -> None:
    alarms = _resources(synthesized.template, "AWS::CloudWatch::Alarm")
    thresholds = {
        (alarm["Properties"]["MetricName"], alarm["Properties"]["Threshold"])
        for alarm in alarms.values()
    }

    assert thresholds == {
        ("ErrorRate", 1), ("LatencyP99", 10_000), ("ErrorRate", 0.1), ("LatencyP99", 5_000),
        # FIS's blast-radius stop conditions (test_fault_templates.py)
        ("ErrorRate", 95), ("LatencyP99", 30_000),
    }
    for alarm in alarms.values():
        assert alarm["Properties"]["Namespace"] == "stresslab/dev"
        assert alarm["Properties"]["Dimensions"] == [{"Name": "service", "Value": "aggregator"}]
        assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


def test_budget_and_alert_subscription(synthesized: SynthesizedApp) -> None:
    template = synthesized.template
    template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": Match.object_like(
                {"BudgetType": "COST", "TimeUnit": "MONTHLY",
                 "BudgetLimit": {"Amount": 500, "Unit": "USD"}}
            ),
            "NotificationsWithSubscribers": Match.array_with(
                [
                    Match.object_like(
                        {"Notification": Match.object_like({"Threshold": 150,
                                                             "NotificationType": "ACTUAL"})}
                    )
                ]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


# -- Outputs ------------------------------------------------------------------------------------


def test_outputs_give_the_urls_and_the_state_machine(synthesized: SynthesizedApp) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    machine_id, _ = _only(synthesized.template, "AWS::StepFunctions::StateMachine")

    assert {"PresentationUrl", "AdminUrl", "ApiUrl", "WebSocketUrl", "StateMachineArn"} <= set(
        outputs
    )
    assert outputs["StateMachineArn"]["Value"] == {"Ref": machine_id}
    assert json.dumps(outputs["PresentationUrl"]["Value"]).endswith('"/presentation.html"]]}')
    assert json.dumps(outputs["AdminUrl"]["Value"]).endswith('"/admin.html"]]}')
    assert "wss://" in json.dumps(outputs["WebSocketUrl"]["Value"])
    assert "ReferenceTargetUrl" in synthesized.reference_template.to_json()["Outputs"]


def test_reference_target_keeps_bedrock_off_by_default(synthesized: SynthesizedApp) -> None:
    synthesized.reference_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.reference_target.handler",
            "Environment": {"Variables": Match.object_like({"BEDROCK_ENABLED": "false"})},
        },
    )
    assert "bedrock:" not in json.dumps(synthesized.reference_template.to_json())


def test_provisioned_mode_sets_the_shard_count() -> None:
    # Given a metrics stream built from a provisioned context
    stack = cdk.Stack(cdk.App())
    MetricsStream(stack, "MetricsStream", mode="provisioned", shard_count=4, retention_hours=48)

    # Then the stream is provisioned with that many shards
    Template.from_stack(stack).has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 4,
            "RetentionPeriodHours": 48,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        },
    )


# -- helpers ------------------------------------------------------------------------------------


def _bucket(stack: cdk.Stack) -> s3.IBucket:
    return s3.Bucket.from_bucket_name(stack, "Logs", "logs")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(template: Template, resource_id: str) -> str:
    resource = template.to_json()["Resources"][resource_id]["Properties"]
    role = resource.get("Role") or resource.get("RoleArn")
    return str(role["Fn::GetAtt"][0])


def _statements_of_role(template: Template, role_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in _resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_a_placeholder_without_substitution_stops_synthesis(tmp_path: Path) -> None:
    # Given an ASL that asks for a placeholder the stack does not provide
    definition = tmp_path / "run_scenario.asl.json"
    definition.write_text(ASL.read_text(encoding="utf-8").replace(
        "${CleanupFunctionArn}", "${JanitorFunctionArn}"
    ))
    stack = cdk.Stack(cdk.App())
    functions = FunctionFactory(
        stack, "Functions", asset=StagedAsset(tmp_path, "0" * 64), powertools_version="3.37.0",
        log_retention=logs.RetentionDays.ONE_DAY, metrics_namespace="stresslab/test",
    )

    # When the orchestration is built, then it names both sides of the mismatch
    with pytest.raises(ValueError, match="JanitorFunctionArn.*CleanupFunctionArn"):
        Orchestration(
            stack, "Orchestration", definition=definition, functions=functions,
            table=dynamodb.Table.from_table_name(stack, "Table", "runs"),
            results_bucket=_bucket(stack),
            load_generator=_lambda.Function.from_function_name(stack, "Worker", "worker"),
            limits=RunLimits(max_tps=10, max_duration_s=60, max_workers=1),
            fault_templates_json="{}", fault_template_arns=[],
            log_retention=logs.RetentionDays.ONE_DAY,
        )


def test_an_unbuilt_site_deploys_a_page_that_says_how_to_build_it(tmp_path: Path) -> None:
    # Given a fresh clone: dashboard_site/dist does not exist
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = cdk.Stack(app)
    site = DashboardSite(
        stack, "Site", site_dir=tmp_path / "dist", access_log_bucket=_bucket(stack)
    )
    site.publish({"mode": "aws"})

    # When it is synthesized, then the site is a placeholder index.html plus config.json
    app.synth()
    (page,) = (tmp_path / "out").glob("asset.*/index.html")
    assert "npm run build" in page.read_text(encoding="utf-8")
    assert list((tmp_path / "out").glob("asset.*/config.json"))


def test_abnormal_ends_of_a_run_reach_cleanup(synthesized: SynthesizedApp) -> None:
    # A console StopExecution or a timeout never reaches the ASL's Catch
    pattern = {"source": ["aws.states"],
               "detail-type": ["Step Functions Execution Status Change"]}
    rules = synthesized.template.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": pattern}})
    (rule,) = rules.values()
    assert rule["Properties"]["EventPattern"]["detail"]["status"] == [
        "ABORTED", "TIMED_OUT", "FAILED"]
    (target,) = rule["Properties"]["Targets"]
    assert "Cleanup" in json.dumps(target["Arn"])
