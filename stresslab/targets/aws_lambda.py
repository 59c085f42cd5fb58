"""Lambda target: Invoke (RequestResponse) a function once per transaction."""

from __future__ import annotations

from typing import Any

from stresslab.ports import Outcome
from stresslab.targets.aws_calls import DEFAULT_TIMEOUT_S, SyncCallTarget, json_answer
from stresslab.targets.config import LambdaTarget
from stresslab.targets.template import RenderBody

# The function ran and failed (X-Amz-Function-Error): a server-side failure, as API Gateway in
# front of it would answer 502.
FUNCTION_ERROR = "http_5xx"


class LambdaInvokeTarget(SyncCallTarget):
    """Invoke (RequestResponse); a FunctionError answer counts as http_5xx, a throttle http_429."""

    def __init__(
        self, target: LambdaTarget, client: Any, render: RenderBody | None = None,
        max_in_flight: int = 64,
    ) -> None:
        timeout = target.timeout or DEFAULT_TIMEOUT_S
        super().__init__(client, render, max_in_flight, timeout, "lambda-target")
        self._function = target.function
        self._qualifier = target.qualifier

    def _call(self, body: bytes) -> Any:
        kwargs: dict[str, Any] = {
            "FunctionName": self._function, "InvocationType": "RequestResponse", "Payload": body,
        }
        if self._qualifier is not None:
            kwargs["Qualifier"] = self._qualifier
        response = self._client.invoke(**kwargs)
        # read in the thread: the streaming body is a blocking socket read
        return response.get("FunctionError"), response["Payload"].read()

    def _read(self, response: Any) -> Outcome:
        function_error, raw = response
        if function_error:
            return Outcome(FUNCTION_ERROR)
        return json_answer(raw)
