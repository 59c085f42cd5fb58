"""WebSocket $disconnect: forget the connection."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.store import DynamoRunStore

logger, tracer, metrics = powertools("ws_disconnect")


class DisconnectEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]


@cache
def _store() -> DynamoRunStore:
    return DynamoRunStore(client("dynamodb"), read_env(DisconnectEnv).TABLE_NAME)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayWebSocketEvent)
def handler(event: APIGatewayWebSocketEvent, context: Any) -> dict[str, Any]:
    _store().delete_connection(event.request_context.connection_id)
    return {"statusCode": 200}
