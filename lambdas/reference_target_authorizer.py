"""Reference target authorizer: an HTTP API Lambda authorizer (simple responses) on x-api-key."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.target_key import key_matches

logger, tracer, metrics = powertools("reference_target_authorizer")


class AuthorizerEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TARGET_KEY_SECRET_ARN: Annotated[str, Field(min_length=1)]
    # A warm function reads the key again once its copy is this old, so a rotated key is taken
    # without a cold start; API Gateway caches each answer for five minutes per key besides.
    TARGET_KEY_MAX_AGE_S: Annotated[int, Field(ge=0, le=3600)] = 300


@cache
def _deps() -> tuple[AuthorizerEnv, SecretsProvider]:
    return read_env(AuthorizerEnv), SecretsProvider(boto3_client=client("secretsmanager"))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    env, secrets = _deps()
    key = str(secrets.get(env.TARGET_KEY_SECRET_ARN, max_age=env.TARGET_KEY_MAX_AGE_S))
    return {"isAuthorized": key_matches(key, event.get("headers"))}
