"""Rotation of the viewer-link key: Secrets Manager (moto) invokes the real rotation handler."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas import rotate_viewer_key
from stresslab.aws.cognito_jwt import InvalidToken
from stresslab.aws.viewer_links import SecretsManagerKeys, mint_viewer_link, verify_viewer_token

from .sfn_harness import InProcessLambdas
from .world import PRESENTATION_URL, World


def rotate(aws: World, lambdas: InProcessLambdas, secret_id: str, arn: str) -> None:
    aws.client("secretsmanager").rotate_secret(
        SecretId=secret_id, RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 30})


def current_key(aws: World, secret_id: str) -> str:
    return str(aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


def test_rotation_makes_a_new_key_and_old_links_live_through_one_rotation(aws: World) -> None:
    # Given the rotation function registered with moto's Lambda, and a link shared before
    iam = aws.client("iam")
    role = iam.create_role(RoleName="rotation", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = aws.client("lambda").create_function(
        FunctionName="rotate-viewer-key", Runtime="python3.12", Role=role,
        Handler="lambdas.rotate_viewer_key.handler", Code={"ZipFile": b"in-process"},
    )["FunctionArn"]
    secret_id = aws.env["VIEWER_LINK_SECRET_ARN"]
    secrets = aws.client("secretsmanager")
    before = current_key(aws, secret_id)
    link_token = mint_viewer_link(PRESENTATION_URL, SecretsManagerKeys(secrets, secret_id), 600,
                                  now=_now()).url.split("token=", 1)[1]

    with InProcessLambdas().installed() as lambdas:
        lambdas.register("rotate-viewer-key", rotate_viewer_key.handler)

        # When Secrets Manager rotates the secret
        rotate(aws, lambdas, secret_id, arn)
        once = current_key(aws, secret_id)
        after_one = _verifies(link_token, SecretsManagerKeys(secrets, secret_id))

        # And rotates it again
        rotate(aws, lambdas, secret_id, arn)
        after_two = _verifies(link_token, SecretsManagerKeys(secrets, secret_id))

    # Then each rotation ran all four steps with a fresh 64-character key, and the old link
    # lived through exactly one rotation
    steps = [c[1]["Step"] for c in lambdas.calls]
    assert steps == ["createSecret", "setSecret", "testSecret", "finishSecret"] * 2
    assert all(outcome == "ok" for _, _, outcome in lambdas.calls), lambdas.calls
    assert once != before and len(once) == 64 and current_key(aws, secret_id) != once
    assert after_one is True and after_two is False


def test_a_bad_rotation_event_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="rotation event: Step: Input should be"):
        rotate_viewer_key.handler({"SecretId": "s", "ClientRequestToken": "t", "Step": "boom"},
                                  _Context())


def _verifies(token: str, keys: SecretsManagerKeys) -> bool:
    try:
        verify_viewer_token(token, keys)
    except InvalidToken:
        return False
    return True


def _now() -> float:
    import time

    return time.time()


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "rotate", 256, "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rotate"

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
