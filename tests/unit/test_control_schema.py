"""The control contract's published JSON Schema and the pages' TypeScript types generated from
it (json-schema-to-typescript) are what the pydantic models say today."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from stresslab.control import SCHEMA_FILE, json_schema, schema_text

SITE = Path(__file__).resolve().parents[2] / "dashboard_site"
GENERATOR = SITE / "scripts" / "generate-types.mjs"


def check_types(folder: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not (SITE / "node_modules" / "json-schema-to-typescript").is_dir():
        pytest.fail("dashboard_site/node_modules is missing: run `make site` first")
    extra = ["--dir", str(folder)] if folder else []
    return subprocess.run(["node", str(GENERATOR), "--check", *extra], cwd=SITE,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_published_schema_is_the_models_schema() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "dashboard_site/src/generated/control.schema.json is stale: run "
        "`python -m stresslab.control` (make contract)")


def test_the_schema_names_every_request_and_answer_of_the_contract() -> None:
    names = set(json_schema()["properties"])
    assert {"StartRun", "InjectFault", "RunStarted", "RunStopping", "ExportLink",
            "ScenarioList", "FaultTypeList", "ProfileList", "BenchmarkList", "ViewerLink",
            "ViewerLinkRequest", "KillSwitch", "ErrorBody"} <= names


def test_the_generated_typescript_is_current() -> None:
    checked = check_types()
    assert checked.returncode == 0, checked.stderr


def test_the_check_fails_when_the_schema_changed_and_the_types_did_not(tmp_path: Path) -> None:
    shutil.copy(SCHEMA_FILE, tmp_path / "control.schema.json")
    shutil.copy(SCHEMA_FILE.with_name("control.ts"), tmp_path / "control.ts")
    assert check_types(tmp_path).returncode == 0
    schema = json.loads((tmp_path / "control.schema.json").read_text())
    schema["$defs"]["StartRun"]["properties"]["priority"] = {"type": "integer"}
    (tmp_path / "control.schema.json").write_text(json.dumps(schema))

    checked = check_types(tmp_path)
    assert checked.returncode == 1 and "stale" in checked.stderr
