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
from stresslab.aws.env import read_env
from stresslab.target.config import TargetConfig
from stresslab.target.faults import FaultState
from stresslab.target.orchestrator import Orchestrator, ScoringRefused
from stresslab.target.payload import InvalidTransaction, parse_transaction

logger, tracer, metrics = powertools("reference_target")
app = APIGatewayHttpResolver()


class ReferenceEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    BEDROCK_ENABLED: bool = False
    BEDROCK_MODEL_ID: Annotated[str, Field(max_length=256)] = ""


@cache
def _orchestrator() -> Orchestrator:
    env = read_env(ReferenceEnv)
    if env.BEDROCK_ENABLED:
        # Kept off by default: the reference agents are deterministic rules; a Bedrock-backed
        # agent is not part of this build, and silently pretending otherwise would mislead.
        raise NotImplementedError("BEDROCK_ENABLED=true is not supported by this build")
    config = TargetConfig()
    return Orchestrator(config, FaultState(clock=time.monotonic), random.Random(config.seed))


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))


@app.post("/v1/score")
def score() -> Response[str]:
    try:
        txn = parse_transaction(json.loads(app.current_event.body or ""))
    except ValueError as invalid:
        message = str(invalid) if isinstance(invalid, InvalidTransaction) else "body: not JSON"
        return _json(400, {"error": message})
    try:
        assessment = asyncio.run(_orchestrator().assess(txn))
    except ScoringRefused as refused:
        return _json(refused.status, {"error": refused.error})
    return _json(200, assessment.to_json())


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
