"""WebSocket $connect: a viewer link's signed token or an operator's Cognito JWT, else 401."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.broadcast import MAX_CONNECTIONS
from stresslab.aws.clients import client
from stresslab.aws.cognito_jwt import CognitoJwtVerifier
from stresslab.aws.env import read_env
from stresslab.aws.store import ConnectionLimitReached, DynamoRunStore
from stresslab.aws.viewer_links import SecretsManagerKeys, verify_viewer_token
from stresslab.aws.websocket import Unauthorized, authorize_connection

logger, tracer, metrics = powertools("ws_connect")


class ConnectEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    VIEWER_LINK_SECRET_ARN: Annotated[str, Field(min_length=1)]
    USER_POOL_ID: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[A-Za-z0-9]+$")]
    USER_POOL_CLIENT_ID: Annotated[str, Field(min_length=1)]
    # Only where the pool's keys are not at Cognito's address (the emulated AWS of aws-local).
    USER_POOL_JWKS_URL: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # the aggregator pushes to at most this many; beyond it a connection is refused
    MAX_CONNECTIONS: Annotated[int, Field(ge=1, le=10_000)] = MAX_CONNECTIONS


@cache
def _deps() -> tuple[DynamoRunStore, SecretsManagerKeys, CognitoJwtVerifier, int]:
    env = read_env(ConnectEnv)
    return (DynamoRunStore(client("dynamodb"), env.TABLE_NAME),
            SecretsManagerKeys(client("secretsmanager"), env.VIEWER_LINK_SECRET_ARN),
            CognitoJwtVerifier(env.USER_POOL_ID, env.USER_POOL_CLIENT_ID,
                               jwks_url=env.USER_POOL_JWKS_URL), env.MAX_CONNECTIONS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayWebSocketEvent)
def handler(event: APIGatewayWebSocketEvent, context: Any) -> dict[str, Any]:
    store, viewer_keys, verifier, max_connections = _deps()
    try:
        role = authorize_connection(event.query_string_parameters,
                                    lambda token: verify_viewer_token(token, viewer_keys),
                                    verifier)
    except Unauthorized as refused:
        logger.info("connection refused", extra={"reason": str(refused)})
        return {"statusCode": 401, "body": str(refused)}
    try:
        store.put_connection(event.request_context.connection_id, role, limit=max_connections)
    except ConnectionLimitReached as full:
        logger.warning("connection refused", extra={"reason": str(full)})
        return {"statusCode": 429, "body": f"live view is full: {full}"}
    return {"statusCode": 200, "body": role}
