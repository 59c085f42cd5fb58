"""WebSocket $default: ping -> pong, resync -> snapshot; anything else -> a one-line error."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.aggregation import LiveTicker
from stresslab.aws.broadcast import ApiGatewayBroadcaster
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.store import DynamoRunStore
from stresslab.aws.websocket import answer_client
from stresslab.judgement.business import PriceTable, load_price_table

logger, tracer, metrics = powertools("ws_default")


class DefaultEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    WS_ENDPOINT: Annotated[str, Field(pattern=r"^https://")]


@cache
def _deps() -> tuple[DynamoRunStore, ApiGatewayBroadcaster, PriceTable]:
    env = read_env(DefaultEnv)
    store = DynamoRunStore(client("dynamodb"), env.TABLE_NAME)
    return (store, ApiGatewayBroadcaster(client("apigatewaymanagementapi", env.WS_ENDPOINT), store),
            load_price_table())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayWebSocketEvent)
def handler(event: APIGatewayWebSocketEvent, context: Any) -> dict[str, Any]:
    store, broadcaster, prices = _deps()
    connection_id = event.request_context.connection_id
    # a fresh ticker per message: the replay is the run's past as the table holds it now
    accepted, reply = answer_client(event.body, store,
                                    lambda run_id: LiveTicker(store, prices).replay(run_id))
    broadcaster.send(connection_id, reply)
    if not accepted:
        logger.info("message rejected", extra={"connection_id": connection_id, "reply": reply})
    return {"statusCode": 200 if accepted else 400}
