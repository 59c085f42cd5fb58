"""Drift between the template and the handlers: a setting or table key a handler expects that
the synthesized template does not give it."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pydantic import BaseModel

from stresslab.aws.env import ConfigurationError, read_env
from stresslab.aws.store import DynamoRunStore

from .account import Account
from .runtime import LambdaRuntime

PROBE_CONNECTION = "drift-probe"


def settings_models(handler: str) -> list[type[BaseModel]]:
    """The handler module's settings models (the pydantic models named *Env it defines)."""
    module = importlib.import_module(handler.rpartition(".")[0])
    return [value for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, BaseModel) and name.endswith("Env")
            and value.__module__ == module.__name__]


def settings_drift(account: Account, runtime: LambdaRuntime) -> list[str]:
    """One line per function whose environment its handler's settings refuse."""
    found = []
    for function in account.functions.values():
        if not function.handler.startswith("lambdas."):
            continue
        for model in settings_models(function.handler):
            try:
                read_env(model, runtime.environment_of(function))
            except ConfigurationError as error:
                found.append(f"{function.handler} ({function.logical_id}): {error}")
    return found


def table_drift(account: Account, dynamodb: Any) -> list[str]:
    """One line per table named by a function's TABLE_NAME that the run store cannot use (a key
    the store writes that the table does not have)."""
    found = []
    tables = {f.environment["TABLE_NAME"] for f in account.functions.values()
              if "TABLE_NAME" in f.environment}
    for table in sorted(tables):
        store = DynamoRunStore(dynamodb, table)
        try:
            store.put_connection(PROBE_CONNECTION, "viewer")
            store.delete_connection(PROBE_CONNECTION)
            store.list_runs(limit=1)
        except Exception as error:  # noqa: BLE001 - any refusal is the finding
            found.append(f"table {table}: {type(error).__name__}: {error}")
    return found
