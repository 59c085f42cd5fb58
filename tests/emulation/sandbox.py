"""One Lambda invocation in its own process: `python -m tests.emulation.sandbox HANDLER NAME ARN
MEMORY_MB TIMEOUT_S RESULT_FILE`, the event on stdin, the process environment the function's.
The result (or Lambda's error payload) goes to RESULT_FILE: the handler's logs own stdout."""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

from tests.emulation.runtime import LambdaContext


def main(argv: list[str]) -> int:
    handler, name, arn, memory_mb, timeout_s, result_file = argv
    event = json.loads(sys.stdin.read() or "{}")
    module_name, _, attribute = handler.rpartition(".")
    context = LambdaContext(name, arn, int(memory_mb), int(timeout_s))
    try:
        result = getattr(importlib.import_module(module_name), attribute)(event, context)
    except Exception as error:  # noqa: BLE001 - Lambda's function error payload
        Path(result_file).write_text(json.dumps({
            "errorType": type(error).__name__, "errorMessage": str(error),
            "stackTrace": traceback.format_exception(error)[-3:]}))
        return 1
    Path(result_file).write_text(json.dumps({"result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
