"""Presentation profiles and the benchmark figures they may show, each with its source."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stresslab.project_data import BENCHMARKS_FILE, PRESENTATION_DIR
from stresslab.scenario.spec import CurrencyCode, describe_validation_error

HeroMetric = Literal[
    "transactions_processed", "fraud_blocked", "money_saved", "uptime_pct", "current_tps",
    "ai_accuracy",
]

# What the dashboard fills in a narrative template, every value from the live run.
PLACEHOLDERS: dict[str, str] = {
    "elapsed": "time since the run started, in words",
    "transactions": "transactions answered so far",
    "fraud": "fraudulent transactions stopped so far",
    "money": "fraud amount prevented so far, in the profile's currency",
    "accuracy": "share of decisions that matched the ground truth, e.g. 97.3%",
    "rate": "transactions answered in the last second",
    "resilience": "a clause on the latest failure and its recovery (empty when none)",
}

_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class PresentationError(ValueError):
    """A profile or benchmark file that cannot be used; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(_Strict):
    title: Annotated[str, Field(min_length=1)]
    url_or_path: Annotated[str, Field(min_length=1)]
    date: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$",
                               description="YYYY, YYYY-MM or YYYY-MM-DD")]


class Benchmark(_Strict):
    """A figure to show beside the run; shown only when it carries a source."""

    id: Annotated[str, Field(pattern=_ID)]
    label: Annotated[str, Field(min_length=1)]
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, Field(min_length=1)]
    kind: Literal["industry", "competitor", "stresslab_measured"] = "industry"
    note: str = ""
    source: Source | None = None


class BenchmarkFile(_Strict):
    benchmarks: list[Benchmark]

    @model_validator(mode="after")
    def _unique_ids(self) -> BenchmarkFile:
        ids = [b.id for b in self.benchmarks]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"benchmark ids must be unique; repeated: {', '.join(repeated)}")
        return self

    def sourced(self) -> list[Benchmark]:
        return [b for b in self.benchmarks if b.source is not None]


def placeholders_in(template: str) -> list[str]:
    """The {names} a template uses; ValueError for anything but plain known names."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"malformed template: {error}") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"unknown placeholder {name!r} (plain {{name}} only); "
                             f"known: {', '.join(PLACEHOLDERS)}")
        names.append(name)
    return names


class Wording(_Strict):
    """Titles, hero labels and the narrative line; the template's {names} come from the run."""

    title: str = ""
    subtitle: str = ""
    narrative: str = Field(default="", description="template; empty: the default sentence")
    labels: dict[HeroMetric, str] = Field(default_factory=dict)
    flow_title: str = ""
    flow_title_reference: str = Field(
        default="", description="flow_title when the target is the reference service, whose "
                                "agents are simulated rules; empty: the default wording")
    value_title: str = ""
    resilience_title: str = ""
    benchmarks_title: str = ""

    @field_validator("flow_title_reference")
    @classmethod
    def _no_ai_for_rules(cls, title: str) -> str:
        if re.search(r"\bAI\b", title, re.IGNORECASE):
            raise ValueError("the reference service's agents are simulated rules: do not call "
                             "them AI")
        return title

    @field_validator("narrative")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        placeholders_in(template)
        return template


class PresentationProfile(_Strict):
    """How the presentation speaks to one audience."""

    name: Annotated[str, Field(pattern=_ID)]
    audience: Annotated[str, Field(min_length=1)]
    currency: CurrencyCode
    emphasis: Annotated[list[HeroMetric], Field(min_length=1, max_length=6)]
    wording: Wording
    benchmarks: list[Annotated[str, Field(pattern=_ID)]] = Field(default_factory=list)
    cycle_s: Annotated[float, Field(ge=3, le=600, description="cinematic mode: s per view")] = 12

    @field_validator("emphasis")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each hero metric at most once")
        return value


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PresentationError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PresentationError(f"{path}:{where} malformed YAML") from None


def load_benchmarks(path: Path = BENCHMARKS_FILE) -> BenchmarkFile:
    try:
        return BenchmarkFile.model_validate(_read_yaml(path))
    except ValidationError as error:
        raise PresentationError(f"{path}: {describe_validation_error(error)}") from None


def list_profiles(directory: Path = PRESENTATION_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_profile(
    name: str, directory: Path = PRESENTATION_DIR, benchmarks: BenchmarkFile | None = None
) -> PresentationProfile:
    """A profile by name; its benchmark ids must exist in the benchmark file."""
    if not re.fullmatch(_ID, name) or not (directory / f"{name}.yaml").exists():
        known = ", ".join(list_profiles(directory))
        raise LookupError(f"unknown presentation profile {name!r}; known: {known}")
    path = directory / f"{name}.yaml"
    try:
        profile = PresentationProfile.model_validate(_read_yaml(path))
    except ValidationError as error:
        raise PresentationError(f"{path}: {describe_validation_error(error)}") from None
    if profile.name != name:
        raise PresentationError(f"{path}: name: must be {name!r}, the file's name")
    known_ids = {b.id for b in (benchmarks or load_benchmarks()).benchmarks}
    unknown = [i for i in profile.benchmarks if i not in known_ids]
    if unknown:
        raise PresentationError(f"{path}: benchmarks: unknown ids {', '.join(unknown)}")
    return profile


def check_presentation_files(
    directory: Path = PRESENTATION_DIR, benchmarks_file: Path = BENCHMARKS_FILE
) -> None:
    """Load every profile and the benchmark file: PresentationError on the first bad one."""
    benchmarks = load_benchmarks(benchmarks_file)
    for name in list_profiles(directory):
        load_profile(name, directory, benchmarks)
