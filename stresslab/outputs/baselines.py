"""`--baseline RUN_ID|FOLDER|last-pass`: find the run a new run's regression rules are judged
against, before the run starts (a baseline that cannot be used is bad input), and judge them
when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stresslab.judgement.regression import judge_against
from stresslab.judgement.summary_model import RegressionCheck, RunSummary, load_summary
from stresslab.measurement.metrics import WindowStats
from stresslab.outputs.compare import (
    ComparedRun,
    UnreadableRun,
    figures_of,
    read_side,
    read_stored,
)
from stresslab.scenario.regressions import RegressionRule
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.identity import TargetIdentity, identify_target

LAST_PASS = "last-pass"


@dataclass(frozen=True)
class Baseline:
    """What --baseline asked for and the run found for it (None: none; the note says why)."""

    asked: str
    run: ComparedRun | None
    note: str


def target_key(identity: TargetIdentity | None, url: str = "") -> str:
    """What makes two runs' targets "the same target": the reference service is one target
    wherever it listened; any other by its kind and host (or name), never by a path."""
    if identity is None:
        return url
    if identity.reference:
        return "reference"
    return f"{identity.kind}:{identity.host or identity.name}"


def summary_key(summary: RunSummary) -> str:
    return target_key(summary.system_under_test, summary.target)


def resolve_baseline(
    asked: str, scenario: str, target: TargetIdentity, db_path: Path, results_dir: Path,
    stored_only: bool = False,
) -> Baseline:
    """The baseline a run of `scenario` against `target` is judged against. A run id, folder or
    summary.json that cannot be read, or that ran another scenario: ValueError, one line.
    last-pass with no passing run found: a Baseline without a run. stored_only (a request over
    the API): a run id from the store, never a path on this machine."""
    if asked != LAST_PASS:
        run = read_stored(asked, db_path) if stored_only else read_side(asked, db_path)
        ran = run.figures.summary.scenario
        if ran != scenario:
            raise UnreadableRun(f"--baseline {asked}: that run ran scenario {ran!r}, not "
                                f"{scenario!r}; a baseline must be a run of the same scenario")
        return Baseline(asked, run, f"baseline {run.figures.summary.run_id} ({run.source})")
    key = target_key(target)
    found = _last_pass_in_store(scenario, key, db_path)
    folder = _last_pass_in_folders(scenario, key, results_dir)
    if found is None and folder is None:
        return Baseline(asked, None, f"no passing run of {scenario!r} against {target.label} in "
                                     f"{db_path} or {results_dir}/; no regression judged")
    if found is None or (folder is not None and folder[0] > found[0]):
        assert folder is not None
        run = read_side(str(folder[1]), db_path)
        return Baseline(asked, run, f"last passing run {run.figures.summary.run_id} "
                                    f"(result folder {folder[1].parent})")
    run = read_stored(found[1], db_path)
    return Baseline(asked, run, f"last passing run {found[1]} (run store {db_path})")


def _last_pass_in_store(scenario: str, key: str, db_path: Path) -> tuple[str, str] | None:
    from stresslab.local.store import SqliteRunStore

    if not db_path.is_file():
        return None
    store = SqliteRunStore(db_path)
    try:
        return store.last_passing_run(scenario, lambda s: summary_key(s) == key)
    finally:
        store.close()


def _last_pass_in_folders(scenario: str, key: str, results_dir: Path
                          ) -> tuple[str, Path] | None:
    """(started_at, summary.json) of the latest passing run among results_dir's folders."""
    best: tuple[str, Path] | None = None
    for path in sorted(results_dir.glob("*/summary.json")) if results_dir.is_dir() else []:
        try:
            summary = load_summary(path)
        except ValueError:
            continue  # not a run's summary (a capacity search, a half-written file)
        if (summary.scenario == scenario and summary.passed and summary.status == "completed"
                and summary_key(summary) == key and (best is None or summary.started_at > best[0])):
            best = (summary.started_at, path)
    return best


def judge_regressions(
    baseline: Baseline, rules: list[RegressionRule], summary: RunSummary, totals: WindowStats,
) -> RegressionCheck:
    """The finished run's rules judged against its baseline, on its merged histogram; a failure
    to judge is recorded as not judged, never the run's end."""
    candidate = figures_of(summary, totals.latency)
    found = baseline.run.figures if baseline.run is not None else None
    note = baseline.note if rules or found is None else (
        f"{baseline.note}; the scenario has no regression rules")
    try:
        return judge_against(baseline.asked, rules, found, candidate, note)
    except Exception as error:  # noqa: BLE001 - the run's own outputs come first
        return judge_against(baseline.asked, rules, None, candidate,
                             f"judging against {baseline.note} failed: {error!r}; "
                             "no regression judged")


def baseline_of_run(spec: ScenarioSpec, target_url: str | None, asked: str, db_path: Path,
                    results_dir: Path, stored_only: bool = False) -> Baseline:
    """The baseline of a run about to start (the runner's spec and target URL)."""
    section = spec.target
    identity = identify_target(target_url, section=section,
                               reference=target_url is None and section is None)
    return resolve_baseline(asked, spec.name, identity, db_path, results_dir, stored_only)


def regression_lines(check: RegressionCheck | None) -> list[str]:
    """The verdicts as the command line prints them under the summary."""
    if check is None:
        return []
    if not check.judged:
        return [f"  regressions not judged: {check.note}"]
    head = "REGRESSION" if check.regressed else "no regression"
    lines = [f"  {head} against {check.baseline_run_id}: {check.note}"]
    lines += [f"  {'BROKEN' if rule.broken else 'holds '} {rule.rule}: {rule.reason}"
              for rule in check.rules]
    return lines
