"""Reference target (optional stack): the bundled fraud service's orchestrator behind an API."""

from __future__ import annotations

import asyncio
import json
import random
import time
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from reference_service.config import TargetConfig
from reference_service.faults import FaultState
from reference_service.orchestrator import Orchestrator, ScoringRefused
from reference_service.payload import InvalidTransaction, parse_transaction
from stresslab.aws.bedrock import REVIEWER, BedrockFailed, BedrockReviewer, BedrockThrottled
from stresslab.aws.clients import client
from stresslab.aws.env import read_env

logger, tracer, metrics = powertools("reference_target")
app = APIGatewayHttpResolver()


class ReferenceEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    BEDROCK_ENABLED: bool = False
    BEDROCK_MODEL_ID: Annotated[str, Field(max_length=256)] = "amazon.nova-micro-v1:0"


@cache
def _orchestrator() -> Orchestrator:
    config = TargetConfig()
    return Orchestrator(config, FaultState(clock=time.monotonic), random.Random(config.seed))


@cache
def _reviewer() -> BedrockReviewer | None:
    env = read_env(ReferenceEnv)
    if not env.BEDROCK_ENABLED:
        return None
    return BedrockReviewer(client("bedrock-runtime"), env.BEDROCK_MODEL_ID)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))


@app.post("/v1/score")
def score() -> Response[str]:
    try:
        txn_json = json.loads(app.current_event.body or "")
        txn = parse_transaction(txn_json)
    except ValueError as invalid:
        message = str(invalid) if isinstance(invalid, InvalidTransaction) else "body: not JSON"
        return _json(400, {"error": message})
    try:
        assessment = asyncio.run(_orchestrator().assess(txn))
    except ScoringRefused as refused:
        return _json(refused.status, {"error": refused.error})
    answer = assessment.to_json()
    reviewer = _reviewer()
    if reviewer is not None:
        # The model's view is reported with the agents'; the decision stays the rules', so
        # accuracy stays comparable with and without Bedrock.
        try:
            review = reviewer.review(txn_json)
        except BedrockThrottled:
            return _json(429, {"error": "bedrock throttled"})
        except BedrockFailed as failed:
            return _json(502, {"error": str(failed)})
        answer["agents"][REVIEWER] = review.to_json()
        usage = review.usage_json()
        if usage is not None:  # real counts beside the rules' modelled ones
            answer["usage"][REVIEWER] = usage
    return _json(200, answer)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
