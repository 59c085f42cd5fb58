"""A handler refuses a malformed event in one line naming its kind and the field, before any AWS
call, through the one parse step the handlers share (lambdas/_powertools.parse_event)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from lambdas import cleanup, evaluate, load_generator, plan, rotate_viewer_key
from lambdas._powertools import parse_event

# As EventBridge delivers it (the AWS Step Functions user guide's example, trimmed)
STATUS_CHANGE = {
    "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
    "account": "123456789012", "time": "2019-02-26T19:42:21Z", "region": "us-east-1",
    "resources": ["arn:aws:states:us-east-1:123456789012:execution:run:r1"],
}


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "f", 256, "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"POWERTOOLS_TRACE_DISABLED": "true", "TABLE_NAME": "t",
                        "RESULTS_BUCKET": "bucket", "METRICS_STREAM_NAME": "s",
                        "MAX_TPS": "100", "MAX_DURATION_S": "60",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("handler", "event", "message"), [
    (evaluate.handler, {}, "evaluate event: run_id: Field required"),
    (evaluate.handler, {"run_id": ""}, "evaluate event: run_id: String should have at least 1"),
    (plan.handler, {"input": {}, "run_id": "r", "extra": 1}, "plan event: extra: Extra inputs"),
    (cleanup.handler, {"run_id": "x" * 81}, "cleanup event: run_id: String should have at most"),
    (cleanup.handler, {**STATUS_CHANGE, "detail": {"status": "ABORTED"}},
     "cleanup event: detail.name: Field required"),
    (cleanup.handler, {"detail": {"name": "r", "status": "ABORTED"}},
     "cleanup event: version: Field required"),
    (load_generator.handler, {"run_id": "r"}, "work item: "),
    (rotate_viewer_key.handler, {"SecretId": "s", "ClientRequestToken": "t", "Step": "boom"},
     "rotation event: Step: Input should be"),
])
def test_a_malformed_event_is_refused_in_one_line(handler: Any, event: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(ValueError) as refused:
        handler(event, Context())
    assert str(refused.value).startswith(message), refused.value
    assert "\n" not in str(refused.value)


def test_parse_event_returns_the_model_or_one_line() -> None:
    class Ping(BaseModel):
        seq: int

    assert parse_event({"seq": 3}, Ping, "ping").seq == 3
    with pytest.raises(ValueError, match="^ping: seq: Input should be a valid integer"):
        parse_event({"seq": "x"}, Ping, "ping")


@pytest.mark.parametrize("module", [cleanup, evaluate, load_generator, plan, rotate_viewer_key])
def test_handlers_parse_their_events_through_the_one_step(module: Any) -> None:
    source = inspect.getsource(module)
    assert "parse_event(" in source and "except ValidationError" not in source
