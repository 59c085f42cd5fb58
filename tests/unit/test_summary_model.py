"""summary.json as a typed model: the same bytes as the dict-building code wrote (golden files
taken before the change), read back through RunSummary, and its published JSON Schema current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stresslab.judgement.summary import RunSummary, load_summary
from stresslab.judgement.summary_model import SCHEMA_FILE, read_summary, schema_text
from tests.unit.summary_runs import GOLDEN_RUNS, golden_summary

GOLDEN = Path(__file__).with_name("summary_golden")


@pytest.mark.parametrize("run", GOLDEN_RUNS)
def test_summary_json_is_byte_for_byte_what_it_was(run: str) -> None:
    # Given a fixed run, when its summary is built and written as summary.json is written
    written = json.dumps(golden_summary(run), indent=2) + "\n"
    # Then the text is the golden file's, key order included
    assert written == (GOLDEN / f"{run}.json").read_text()


@pytest.mark.parametrize("run", GOLDEN_RUNS)
def test_a_summary_read_and_written_again_is_unchanged(run: str) -> None:
    text = (GOLDEN / f"{run}.json").read_text()
    assert RunSummary.model_validate_json(text).to_json() == text
    assert RunSummary.model_validate(json.loads(text)).to_json() == text


def test_the_runtimes_own_fault_fields_are_kept_in_their_order() -> None:
    aws = load_summary(GOLDEN / "aws.json")
    (fault,) = aws.faults
    assert fault.model_extra == {"key": "f1-agent_errors",
                                 "planned_start": "2026-01-01T00:00:10Z",
                                 "planned_end": "2026-01-01T00:00:15Z", "template_id": "EXT123"}
    assert list(fault.model_dump())[:4] == ["type", "label", "key", "planned_start"]
    local = load_summary(GOLDEN / "local.json")
    assert (local.faults[0].intensity, local.faults[0].status) == (0.3, "cleared")


def test_typed_fields_read_what_the_dict_held() -> None:
    summary = load_summary(GOLDEN / "local.json")
    assert summary.schema_ == "stresslab.summary/v1"
    assert (summary.counts.sent, summary.counts.undelivered, summary.passed) == (1500, 1, False)
    assert summary.counts.errors_by_class["invalid_response"] == 1
    assert summary.latency_ms.p95 == 28.511 and summary.schedule_lag_ms is not None
    assert summary.agents["velocity"].errors == 75
    assert [c.expr for c in summary.failed_criteria] == ["lost == 0"]
    assert summary.degradation[0].applied is True


def test_a_file_that_is_not_a_summary_is_one_line_naming_the_field(tmp_path: Path) -> None:
    broken = json.loads((GOLDEN / "plain.json").read_text())
    del broken["counts"]["sent"]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"not a stresslab.summary/v1 summary: counts.sent: "
                                         r"Field required$"):
        load_summary(path)
    path.write_text(json.dumps({**json.loads((GOLDEN / "plain.json").read_text()),
                                "schema": "stresslab.summary/v2"}))
    with pytest.raises(ValueError, match="schema: Input should be 'stresslab.summary/v1'"):
        load_summary(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_summary(tmp_path / "missing.json")


def test_the_published_schema_is_the_models_schema() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "docs/summary.schema.json is stale: run `python -m stresslab.judgement.summary_model` "
        "(make contract)")


def test_the_schema_describes_the_wire_names() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$id"] == "stresslab.summary/v1"
    assert "schema" in schema["required"] and "schema_" not in schema["properties"]
    # phases: written by the local runner (not by build_summary); regression: with --baseline
    written_only_when_there_are_some = {"invalid_responses", "phases", "regression"}
    assert set(schema["properties"]) - written_only_when_there_are_some == set(
        json.loads((GOLDEN / "local.json").read_text()))
    fault = schema["$defs"]["FaultEntry"]
    assert fault["additionalProperties"] is True and "time_to_detect_s" in fault["required"]
    assert "intensity" in fault["properties"] and "intensity" not in fault["required"]


@pytest.mark.parametrize("run", GOLDEN_RUNS)
def test_every_golden_summary_is_valid_against_the_published_schema(run: str) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(json.loads((GOLDEN / f"{run}.json").read_text()), schema)
    broken = json.loads((GOLDEN / f"{run}.json").read_text())
    broken["faults"] = [{"type": "latency"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_docs_name_every_field() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "summary.md").read_text()
    schema = json.loads(SCHEMA_FILE.read_text())
    parts = ["RunSummary", "Load", "Counts", "LatencyMs", "Accuracy", "Business", "FaultEntry",
             "WorkersReport", "DegradationChange", "FaultBaseline", "AgentStats", "HeldRate",
             "RateLimit"]
    named = {name for part in parts
             for name in (schema if part == "RunSummary" else schema["$defs"][part])["properties"]}
    assert not {name for name in named if name not in doc}, "docs/summary.md misses these"


# -- reading mode: older, cut-short or hand-made files are read, not refused --------------------


def _older_summary() -> dict[str, Any]:
    """The local golden summary as written before counts.undelivered and degradation existed."""
    data = json.loads((GOLDEN / "local.json").read_text())
    del data["counts"]["undelivered"], data["degradation"], data["schema"]
    return data


def test_an_older_summary_is_refused_strictly_and_read_in_reading_mode() -> None:
    data = _older_summary()
    with pytest.raises(ValueError, match="counts.undelivered"):
        RunSummary.model_validate(data)
    read = read_summary(data)
    assert read.counts.undelivered is None and "undelivered" not in read.counts.model_fields_set
    assert read.degradation == [] and read.schema_ is None
    assert read.counts.sent == data["counts"]["sent"]
    assert "sent" in read.counts.model_fields_set


def test_reading_mode_reads_a_missing_part_as_nothing_recorded_and_a_mistyped_value_as_none(
) -> None:
    data = _older_summary()
    del data["accuracy"]
    data["load"]["peak_tps"] = "lots"
    data["criteria"][0]["window"] = None
    read = read_summary(data)
    assert read.accuracy.model_fields_set == set() and read.accuracy.tp is None
    assert read.accuracy.by_pattern == {}
    assert read.load.peak_tps is None and read.load.planned == data["load"]["planned"]
    assert read.criteria[0].window is None and read.criteria[0].expr == data["criteria"][0]["expr"]


def test_reading_mode_changes_nothing_in_a_current_summary() -> None:
    for run in GOLDEN_RUNS:
        text = (GOLDEN / f"{run}.json").read_text()
        assert read_summary(json.loads(text)).to_json() == text


def test_what_is_not_a_summary_at_all_is_one_line() -> None:
    with pytest.raises(ValueError, match="^not a stresslab.summary/v1 summary: summary: ") as error:
        read_summary(["not", "an", "object"])
    assert "\n" not in str(error.value)
