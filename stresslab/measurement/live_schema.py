"""The live protocol's JSON Schema, from which the pages' TypeScript types are generated
(dashboard_site/scripts/generate-types.mjs writes src/generated/live.ts from it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from stresslab.measurement.live import (
    LIVE_SCHEMA,
    ClientMessage,
    LiveEvent,
    Pong,
    ServerError,
    Snapshot,
    Tick,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "dashboard_site" / "src" / "generated" \
    / "live.schema.json"
SERVER_MESSAGES: tuple[type[BaseModel], ...] = (Snapshot, Tick, LiveEvent, Pong, ServerError)


def json_schema() -> dict[str, Any]:
    """One document: what the server sends (as serialized) and what a browser may send."""
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "serialization") for m in SERVER_MESSAGES), (ClientMessage, "validation")]
    refs, schema = models_json_schema(keyed, ref_template="#/$defs/{model}")
    definitions = schema["$defs"]
    for name in _sent_models(SERVER_MESSAGES):  # a default is still written: never absent
        definitions[name]["required"] = list(definitions[name]["properties"])
    server_message = TypeAdapter(Snapshot | Tick | LiveEvent | Pong | ServerError)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": LIVE_SCHEMA,
        "title": "LiveProtocol",
        "description": "The dashboard message: server to browser, and the browser's requests.",
        "type": "object",
        "properties": {
            **{model.__name__: refs[(model, mode)] for model, mode in keyed},
            "ServerMessage": {
                "anyOf": server_message.json_schema(
                    mode="serialization", ref_template="#/$defs/{model}")["anyOf"],
            },
        },
        "$defs": definitions,
        "additionalProperties": False,
    }


def _sent_models(models: tuple[type[BaseModel], ...]) -> set[str]:
    """The names of the models the server writes, nested ones included (not the TypedDicts,
    whose optional keys a runtime may leave out)."""
    names: set[str] = set()
    pending = list(models)
    while pending:
        model = pending.pop()
        if model.__name__ in names:
            continue
        names.add(model.__name__)
        for field in model.model_fields.values():
            pending += [t for t in _types_in(field.annotation)
                        if isinstance(t, type) and issubclass(t, BaseModel)]
    return names


def _types_in(annotation: Any) -> list[Any]:
    return [annotation, *(t for arg in get_args(annotation) for t in _types_in(arg))]


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")
