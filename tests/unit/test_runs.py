"""One rule each for run ids, clock formatting, exports and the operators group (stresslab.runs)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from stresslab import runs

AT = datetime(2026, 12, 3, 16, 5, 7, tzinfo=UTC)


@pytest.mark.parametrize("scenario", [
    "smoke", "Peak Load (EU)", "investor-demo", "ünïcode/../name", "x" * 200, "",
])
def test_a_run_id_is_a_valid_execution_name_whatever_the_scenario_is_called(scenario: str) -> None:
    # Given a scenario name, however odd / When a run id is made from it
    run_id = runs.new_run_id(scenario, AT)
    # Then it names a Step Functions execution, a file and a URL segment
    assert runs.RUN_ID.match(run_id), run_id
    assert re.fullmatch(r"[a-z0-9_-]*-20261203-160507-[0-9a-f]{6}", run_id), run_id


def test_run_ids_that_existing_runs_carry_stay_valid() -> None:
    # Ids made by either runtime before the rule was one (local: 4 hex, AWS: 6 hex)
    for old in ("smoke-20261203-160507-ab12", "peak-load-20261203-160507-abc123", "current"):
        assert runs.RUN_ID.match(old)
    assert not runs.RUN_ID.match("../etc") and not runs.RUN_ID.match("x" * 81)


def test_two_ids_made_in_the_same_second_differ() -> None:
    assert runs.new_run_id("smoke", AT) != runs.new_run_id("smoke", AT)


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    assert runs.iso(AT.timestamp() + 0.25) == "2026-12-03T16:05:07.250Z"


def test_every_export_is_utf8_with_its_media_type() -> None:
    assert runs.EXPORTS == ("summary.json", "timeseries.csv", "report.html", "junit.xml")
    assert runs.export_content_type("timeseries.csv") == "text/csv; charset=utf-8"
    assert runs.export_content_type("junit.xml") == "application/xml; charset=utf-8"


def test_the_runtimes_use_the_one_copy() -> None:
    # The AWS side and the local server read the core's rules, not copies of them
    from lambdas import control_api
    from stresslab.aws import cognito_jwt, planning, results
    from stresslab.local import server

    assert control_api.new_run_id is runs.new_run_id
    assert planning.iso is runs.iso
    assert results.known_export is runs.known_export and server.EXPORTS == runs.EXPORT_MEDIA_TYPES
    assert cognito_jwt.OPERATORS_GROUP is runs.OPERATORS_GROUP
    assert not hasattr(control_api, "OPERATORS")
