"""The stack's side of the control path: stop flags in the run table, the viewer-link key."""

from typing import Any

from aws_cdk.assertions import Template

from tests.infrastructure.conftest import SynthesizedApp


def _resources(template: Template, resource_type: str) -> dict[str, Any]:
    return dict(template.find_resources(resource_type))


def _function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(rid, r) for rid, r in _resources(template, "AWS::Lambda::Function").items()
                if r["Properties"]["Handler"] == handler]
    return found


def _statements_of(template: Template, handler: str) -> list[dict[str, Any]]:
    _, function = _function(template, handler)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for p in _resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        actions = statement["Action"]
        found.update([actions] if isinstance(actions, str) else actions)
    return found


def _table_id(template: Template) -> str:
    (table_id,) = _resources(template, "AWS::DynamoDB::Table")
    return table_id


def _secret_id(template: Template) -> str:
    (secret_id,) = _resources(template, "AWS::SecretsManager::Secret")
    return secret_id


def test_there_is_no_ssm_kill_switch_or_viewer_token_any_more(
    synthesized: SynthesizedApp,
) -> None:
    names = [p["Properties"].get("Name", "") for p in
             _resources(synthesized.template, "AWS::SSM::Parameter").values()]
    assert not [n for n in names if "kill-switch" in n or "viewer-token" in n], names
    for handler in ("load_generator", "evaluate", "cleanup", "control_api", "ws_connect"):
        statements = _statements_of(synthesized.template, f"lambdas.{handler}.handler")
        assert not {a for a in _actions(statements) if a.startswith("ssm:")}, handler


def test_workers_poll_the_stop_flags_in_the_run_table(synthesized: SynthesizedApp) -> None:
    template = synthesized.template
    _, worker = _function(template, "lambdas.load_generator.handler")
    table_id = _table_id(template)

    assert worker["Properties"]["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": table_id}
    reads = [s for s in _statements_of(template, "lambdas.load_generator.handler")
             if "dynamodb:BatchGetItem" in _actions([s])]
    assert reads and all(_actions([s]) == {"dynamodb:BatchGetItem"} for s in reads)
    assert {"Fn::GetAtt": [table_id, "Arn"]} in [r for s in reads for r in
                                                 (s["Resource"] if isinstance(s["Resource"], list)
                                                  else [s["Resource"]])]


def test_the_viewer_link_key_is_random_rotated_and_readable_by_who_signs_and_checks(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    secret_id = _secret_id(template)
    secret = _resources(template, "AWS::SecretsManager::Secret")[secret_id]["Properties"]
    (schedule,) = _resources(template, "AWS::SecretsManager::RotationSchedule").values()
    rotation_id, _ = _function(template, "lambdas.rotate_viewer_key.handler")

    assert secret["GenerateSecretString"]["PasswordLength"] == 64
    assert schedule["Properties"]["SecretId"] == {"Ref": secret_id}
    assert schedule["Properties"]["RotationLambdaARN"] == {"Fn::GetAtt": [rotation_id, "Arn"]}
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    for handler in ("control_api", "ws_connect"):
        _, function = _function(template, f"lambdas.{handler}.handler")
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["VIEWER_LINK_SECRET_ARN"] == {"Ref": secret_id}, handler
        statements = _statements_of(template, f"lambdas.{handler}.handler")
        assert any("secretsmanager:GetSecretValue" in _actions([s])
                   and s["Resource"] == {"Ref": secret_id} for s in statements), handler
    _, control = _function(template, "lambdas.control_api.handler")
    presentation = control["Properties"]["Environment"]["Variables"]["PRESENTATION_URL"]
    assert "presentation" in str(presentation)
