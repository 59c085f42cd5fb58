"""Presentation profiles and benchmarks: validated at load, unsourced figures never served."""

from __future__ import annotations

from pathlib import Path

import pytest

from stresslab.scenario.presentation import (
    PresentationError,
    check_presentation_files,
    list_profiles,
    load_benchmarks,
    load_profile,
    placeholders_in,
)

GOOD_PROFILE = """name: {name}
audience: Testers
currency: EUR
emphasis: [money_saved, ai_accuracy]
wording:
  narrative: "{{transactions}} checked in {{elapsed}}"
  labels: {{money_saved: Saved}}
benchmarks: [sourced]
"""

BENCHMARKS = """benchmarks:
  - id: sourced
    label: A figure with its source
    value: 12.5
    unit: "%"
    source: {title: A report, url_or_path: https://example.org/report, date: "2025-01"}
  - id: unsourced
    label: A figure without one
    value: 3
    unit: x
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    profiles = tmp_path / "presentation"
    profiles.mkdir()
    (profiles / "testers.yaml").write_text(GOOD_PROFILE.format(name="testers"))
    benchmarks = tmp_path / "benchmarks.yaml"
    benchmarks.write_text(BENCHMARKS)
    return profiles, benchmarks


def test_the_bundled_profiles_and_benchmarks_load():
    check_presentation_files()
    assert list_profiles() == ["board", "engineering", "investor"]
    for entry in load_benchmarks().sourced():
        assert entry.source is not None and entry.source.url_or_path


def test_only_sourced_benchmarks_are_offered(files):
    _, benchmarks = files
    assert [b.id for b in load_benchmarks(benchmarks).sourced()] == ["sourced"]


def test_a_profile_loads_with_its_wording(files):
    profiles, benchmarks = files
    profile = load_profile("testers", profiles, load_benchmarks(benchmarks))
    assert profile.currency == "EUR" and profile.emphasis == ["money_saved", "ai_accuracy"]
    assert profile.wording.labels == {"money_saved": "Saved"}


@pytest.mark.parametrize("old, new, message", [
    ("currency: EUR", "currency: XYZ", "currency: unknown currency 'XYZ'"),
    ("[money_saved, ai_accuracy]", "[money_saved, money_saved]", "each hero metric at most once"),
    ("[money_saved, ai_accuracy]", "[revenue]", "emphasis.0: Input should be"),
    ("{{transactions}} checked", "{{revenue}} made", "unknown placeholder 'revenue'"),
    ("{{transactions}} checked", "{{transactions:,}} checked", "unknown placeholder"),
    ("{{transactions}} checked", "{{transactions checked", "malformed template"),
    ("benchmarks: [sourced]", "benchmarks: [made-up]", "benchmarks: unknown ids made-up"),
    ("audience: Testers", "audience: Testers\ncolour: red", "colour: Extra inputs"),
    ("name: {name}", "name: other", "name: must be 'testers'"),
])
def test_a_bad_profile_gets_one_line_naming_the_field(files, old, new, message):
    profiles, benchmarks = files
    (profiles / "testers.yaml").write_text(GOOD_PROFILE.replace(old, new).format(name="testers"))
    with pytest.raises(PresentationError) as error:
        load_profile("testers", profiles, load_benchmarks(benchmarks))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("old, new, message", [
    ("value: 12.5", "value: lots", "benchmarks.0.value: Input should be a valid number"),
    ('date: "2025-01"', "date: last year", "benchmarks.0.source.date: String should match"),
    ("id: unsourced", "id: sourced", "benchmark ids must be unique; repeated: sourced"),
    ("label: A figure without one", "label: [unclosed", "malformed YAML"),
])
def test_a_bad_benchmark_file_gets_one_line(files, old, new, message):
    _, benchmarks = files
    benchmarks.write_text(BENCHMARKS.replace(old, new))
    with pytest.raises(PresentationError) as error:
        load_benchmarks(benchmarks)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_profiles_are_a_lookup_error_even_with_path_tricks(files):
    profiles, _ = files
    for name in ("ceo", "../benchmarks", "Testers"):
        with pytest.raises(LookupError, match="unknown presentation profile"):
            load_profile(name, profiles)


def test_placeholders_are_plain_known_names():
    assert placeholders_in("{money} in {elapsed}, {resilience}") == [
        "money", "elapsed", "resilience"]
    assert placeholders_in("no numbers here") == []
