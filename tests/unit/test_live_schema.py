"""The live protocol's published JSON Schema and the pages' TypeScript types generated from it
are what the pydantic models in stresslab/measurement/live.py say today."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import Snapshot, Tick, WindowRow
from stresslab.measurement.live_schema import SCHEMA_FILE, json_schema, schema_text
from tests.unit.test_control_schema import check_types


def test_the_published_schema_is_the_models_schema() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "dashboard_site/src/generated/live.schema.json is stale: run "
        "`python -m stresslab.measurement.live_schema` (make contract)")


def test_the_schema_names_every_message() -> None:
    schema = json_schema()
    assert {"Snapshot", "Tick", "LiveEvent", "Pong", "ServerError", "ClientMessage",
            "ServerMessage"} <= set(schema["properties"])
    tick = schema["$defs"]["Tick"]
    assert tick["properties"]["window"] == {"$ref": "#/$defs/WindowRow"}
    # A field with a default is still always written: the pages may rely on it
    assert {"degradation", "faults_active", "infra", "schema"} <= set(tick["required"])


def test_a_window_row_is_every_key_the_aggregator_writes() -> None:
    row = RunAggregator("r", [1.0]).second_row(0, ["f1"])
    aws_only = {"partial", "workers_expected", "workers_closed"}
    assert set(row) == set(WindowRow.__annotations__) - aws_only
    assert set(row) == set(json_schema()["$defs"]["WindowRow"]["required"])


def test_a_tick_carries_its_window_and_totals_unchanged(tmp_path: Path) -> None:
    row = RunAggregator("r", [1.0]).second_row(0, ["f1"])
    sent = json.loads(json.dumps(row))
    tick = Tick.model_validate({
        "run_id": "r", "second": 0, "elapsed_s": 1.0, "window": {**row, "partial": True},
        "hero": {"transactions_processed": 0, "fraud_blocked": 0, "money_saved": 0.0,
                 "currency": "USD", "uptime_pct": None, "current_tps": 0.0,
                 "ai_accuracy": None},
        "totals": {"scheduled": 0, "sent": 0, "ok": 0, "errors": 0, "timeouts": 0, "dropped": 0,
                   "errors_by_class": {}, "peak_tps": 0, "p50_ms": None, "p95_ms": None,
                   "p99_ms": None, "accuracy": None, "precision": None, "recall": None,
                   "false_positive_rate": None, "by_pattern": {}, "fraud_missed": 0.0,
                   "false_positive_amount": 0.0, "a_runtime_extra": 3},
        "agents": [], "cost": {"cost_per_transaction": 0.0, "usd_per_hour": 0.0,
                               "projected_usd_per_day": 0.0, "budget_usd_per_day": 1.0,
                               "budget_status": "on track", "pricing_source": "x"},
    })
    wire = json.loads(Snapshot(run=None, history=[tick]).to_json())["history"][0]
    assert wire["window"] == {**sent, "partial": True}
    assert wire["totals"]["a_runtime_extra"] == 3


def test_the_generated_typescript_is_current() -> None:
    checked = check_types()
    assert checked.returncode == 0, checked.stderr


def test_the_check_fails_when_the_live_schema_changed_and_the_types_did_not(
    tmp_path: Path,
) -> None:
    shutil.copy(SCHEMA_FILE, tmp_path / "live.schema.json")
    shutil.copy(SCHEMA_FILE.with_name("live.ts"), tmp_path / "live.ts")
    assert check_types(tmp_path).returncode == 0
    schema = json.loads((tmp_path / "live.schema.json").read_text())
    schema["$defs"]["Hero"]["properties"]["visitors"] = {"type": "integer"}
    (tmp_path / "live.schema.json").write_text(json.dumps(schema))

    checked = check_types(tmp_path)
    assert checked.returncode == 1 and "live.ts is stale" in checked.stderr
