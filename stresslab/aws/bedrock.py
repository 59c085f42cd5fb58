"""BedrockReviewer: a Bedrock model's view of a transaction's fraud risk (InvokeModel with
Amazon Nova's messages-v1 body), the reference target's optional Bedrock agent."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code, is_throttle

# Its name among the agents of an answer.
REVIEWER = "bedrock_review"
# The request body is Amazon Nova's; other model families take other bodies.
NOVA_MODEL = re.compile(r"^amazon\.nova-")

_PROMPT = (
    "You review card transactions for fraud. Answer with one JSON object and nothing else: "
    '{{"risk": <a number from 0 (legitimate) to 1 (fraud)>, "reason": "<at most 20 words>"}}.'
    "\nTransaction: {transaction}"
)
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


class BedrockThrottled(Exception):
    """Bedrock refused the call for its rate (ThrottlingException): the target answers 429."""


class BedrockFailed(Exception):
    """Bedrock failed the call for another reason (the message names its error code)."""


@dataclass(frozen=True)
class ModelReview:
    score: float | None
    reasons: list[str] = field(default_factory=list)
    ms: float = 0.0
    input_tokens: int | None = None  # as Bedrock counted them (its answer's usage)
    output_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "reasons": self.reasons, "ms": round(self.ms, 3)}

    def usage_json(self) -> dict[str, int] | None:
        """The call's tokens as an answer's usage reports them; None when Bedrock gave none."""
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return {"input_tokens": self.input_tokens or 0, "output_tokens": self.output_tokens or 0}


def parse_review(text: str) -> tuple[float | None, list[str]]:
    """The model's risk (clamped to 0..1) and reason, or no score when its answer is not the
    JSON it was asked for."""
    for candidate in _JSON_OBJECT.findall(text):
        try:
            answer = json.loads(candidate)
            risk = float(answer["risk"])
        except (ValueError, KeyError, TypeError):
            continue
        if risk != risk:  # NaN
            continue
        reason = str(answer.get("reason", "")).strip()[:200]
        return min(1.0, max(0.0, risk)), [reason] if reason else []
    return None, ["model answer not understood"]


class BedrockReviewer:
    def __init__(
        self, client: Any, model_id: str, max_tokens: int = 120,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not NOVA_MODEL.match(model_id):
            raise ValueError(f"BEDROCK_MODEL_ID: {model_id!r} is not an Amazon Nova model")
        self._client = client
        self.model_id = model_id
        self._max_tokens = max_tokens
        self._clock = clock

    def request_body(self, transaction: Mapping[str, Any]) -> dict[str, Any]:
        prompt = _PROMPT.format(transaction=json.dumps(transaction, sort_keys=True))
        return {
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": self._max_tokens, "temperature": 0.0},
        }

    def review(self, transaction: Mapping[str, Any]) -> ModelReview:
        started = self._clock()
        try:
            response = self._client.invoke_model(
                modelId=self.model_id, body=json.dumps(self.request_body(transaction)),
                contentType="application/json", accept="application/json",
            )
        except ClientError as error:
            if is_throttle(error):
                raise BedrockThrottled(error_code(error)) from None
            raise BedrockFailed(f"bedrock: {error_code(error) or 'error'}") from None
        answer = json.loads(response["body"].read())
        content = answer.get("output", {}).get("message", {}).get("content", [])
        text = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        score, reasons = parse_review(text)
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        return ModelReview(score, reasons, (self._clock() - started) * 1000,
                           _count(usage.get("inputTokens")), _count(usage.get("outputTokens")))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None
