"""Reference target authorizer: an HTTP API Lambda authorizer (simple responses) on x-api-key."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.target_key import key_matches, read_key

logger, tracer, metrics = powertools("reference_target_authorizer")


class AuthorizerEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TARGET_KEY_SECRET_ARN: Annotated[str, Field(min_length=1)]


@cache
def _key() -> str:
    # Once per cold start; API Gateway caches each answer for five minutes per key.
    return read_key(client("secretsmanager"), read_env(AuthorizerEnv).TARGET_KEY_SECRET_ARN)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    return {"isAuthorized": key_matches(_key(), event.get("headers"))}
