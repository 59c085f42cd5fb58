"""WebSocket $connect: a viewer's presentation token or an operator's Cognito JWT, else 401."""

from __future__ import annotations

import time
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.cognito_jwt import CognitoJwtVerifier
from stresslab.aws.env import read_env
from stresslab.aws.store import DynamoRunStore
from stresslab.aws.websocket import Unauthorized, authorize_connection

logger, tracer, metrics = powertools("ws_connect")
TOKEN_CACHE_S = 60.0


class ConnectEnv(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    VIEWER_TOKEN_PARAMETER: Annotated[str, Field(min_length=1)]
    USER_POOL_ID: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[A-Za-z0-9]+$")]
    USER_POOL_CLIENT_ID: Annotated[str, Field(min_length=1)]


class ConnectEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    requestContext: dict[str, Any]
    queryStringParameters: dict[str, str] | None = None

    @property
    def connection_id(self) -> str:
        return str(self.requestContext["connectionId"])


class ViewerToken:
    """The presentation token from SSM, re-read at most once a minute."""

    def __init__(self, ssm: Any, name: str) -> None:
        self._ssm, self._name = ssm, name
        self._value, self._at = "", float("-inf")

    def __call__(self) -> str:
        if time.monotonic() - self._at > TOKEN_CACHE_S:
            response = self._ssm.get_parameter(Name=self._name, WithDecryption=True)
            self._value, self._at = str(response["Parameter"]["Value"]), time.monotonic()
        return self._value


@cache
def _deps() -> tuple[DynamoRunStore, ViewerToken, CognitoJwtVerifier]:
    env = read_env(ConnectEnv)
    return (DynamoRunStore(client("dynamodb"), env.TABLE_NAME),
            ViewerToken(client("ssm"), env.VIEWER_TOKEN_PARAMETER),
            CognitoJwtVerifier(env.USER_POOL_ID, env.USER_POOL_CLIENT_ID))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store, viewer_token, verifier = _deps()
    request = ConnectEvent.model_validate(event)
    try:
        role = authorize_connection(request.queryStringParameters, viewer_token, verifier)
    except Unauthorized as refused:
        logger.info("connection refused", extra={"reason": str(refused)})
        return {"statusCode": 401, "body": str(refused)}
    store.put_connection(request.connection_id, role)
    return {"statusCode": 200, "body": role}
