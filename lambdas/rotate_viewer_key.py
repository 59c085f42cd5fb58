"""Secrets Manager rotation of the viewer-link signing key (createSecret .. finishSecret)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas._powertools import parse_event, powertools
from stresslab.aws.clients import client
from stresslab.aws.viewer_links import rotate_signing_key

logger, tracer, metrics = powertools("rotate_viewer_key")


class RotationEvent(BaseModel):
    """What Secrets Manager sends the rotation function, once per step."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    SecretId: str
    ClientRequestToken: str
    Step: Literal["createSecret", "setSecret", "testSecret", "finishSecret"]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> None:
    request = parse_event(event, RotationEvent, "rotation event")
    rotate_signing_key(client("secretsmanager"), request.SecretId, request.ClientRequestToken,
                       request.Step)
    logger.info("rotation step done", extra={"step": request.Step})
