"""Runs seen phase by phase: where each load phase lies in run seconds, what each phase
measured (from the per-second series and, when kept, merged HDR histograms), how two runs'
phases pair up, and how one run's seconds map onto the other's time axis so phases start
together however long each run played them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stresslab.judgement.summary_model import PhaseWindow

Distribution = Sequence[tuple[float, int]]  # (value, count), ascending values


def phase_windows(phases: Iterable[tuple[str, float]]) -> list[PhaseWindow]:
    """(name, duration) in the scenario's order → windows in run seconds; an unnamed phase is
    'phase N'."""
    windows, start = [], 0.0
    for index, (name, duration) in enumerate(phases):
        windows.append(PhaseWindow(name=name or f"phase {index + 1}", start_s=round(start, 6),
                                   end_s=round(start + duration, 6)))
        start += duration
    return windows


def windows_of_spec(spec: Mapping[str, Any]) -> list[PhaseWindow]:
    """The windows of a scenario as stored (its JSON), whose durations are already scaled."""
    return phase_windows((str(p.get("name") or ""), float(p["duration"]))
                         for p in spec.get("phases", []))


def phase_at(windows: Sequence[PhaseWindow], second: float) -> int | None:
    """The phase a series second belongs to: the one holding its middle; a second after the
    last phase (answers drained after the plan) belongs to the last."""
    middle = second + 0.5
    for index, window in enumerate(windows):
        if window.start_s <= middle < window.end_s:
            return index
    return len(windows) - 1 if windows and middle >= windows[-1].end_s else None


@dataclass(frozen=True)
class PhaseFigures:
    """What one phase measured: exact counts summed over its seconds, and its latency."""

    window: PhaseWindow
    seconds: int  # series seconds inside the phase's window
    sent: int
    failed: int  # errors + timeouts
    timeouts: int
    labelled: int
    correct: int
    latency_ms: Mapping[str, float | None] | None = None  # from the phase's merged histograms
    distribution: Distribution | None = None

    @property
    def achieved_tps(self) -> float | None:
        return self.sent / self.seconds if self.seconds else None


def phase_figures(
    windows: Sequence[PhaseWindow], series: Sequence[Mapping[str, Any]],
    latency: Sequence[tuple[Mapping[str, float | None], Distribution] | None] | None = None,
) -> list[PhaseFigures]:
    """Each phase's figures from the run's per-second series (and its merged latency, one
    entry per window, when the batches were kept)."""
    sums = [[0, 0, 0, 0, 0, 0] for _ in windows]
    for row in series:
        index = phase_at(windows, row["second"])
        if index is None:
            continue
        within = row["second"] + 0.5 < windows[-1].end_s
        labelled = row.get("labelled") or 0
        for slot, value in enumerate((
            1 if within else 0, row.get("sent", 0), row.get("errors", 0) + row.get("timeouts", 0),
            row.get("timeouts", 0), labelled, _correct(row),
        )):
            sums[index][slot] += value
    figures = []
    for index, window in enumerate(windows):
        seconds, sent, failed, timeouts, labelled, correct = sums[index]
        measured = latency[index] if latency is not None else None
        figures.append(PhaseFigures(
            window, seconds, sent, failed, timeouts, labelled, correct,
            measured[0] if measured else None, measured[1] if measured else None))
    return figures


def _correct(row: Mapping[str, Any]) -> int:
    """Decisions that matched the ground truth: tp + tn, or as a result folder's CSV gives it."""
    if "correct" in row:
        return int(row["correct"] or 0)
    return int((row.get("tp") or 0) + (row.get("tn") or 0))


def paired_phases(
    baseline: Sequence[PhaseWindow], candidate: Sequence[PhaseWindow]
) -> list[tuple[int, int]] | None:
    """Which baseline phase goes with which candidate phase: by position when both runs have as
    many (runs of one scenario do, however scaled); None otherwise."""
    if baseline and len(baseline) == len(candidate):
        return [(i, i) for i in range(len(baseline))]
    return None


def aligned_second(second: float, own: Sequence[PhaseWindow],
                   onto: Sequence[PhaseWindow]) -> float:
    """A second of a run with phases `own` on the time axis of a run with phases `onto`
    (paired by position): each phase is stretched onto its partner, so both start together."""
    if not own or not onto:
        return second
    index = phase_at(own, second)
    index = 0 if index is None else min(index, len(onto) - 1)
    mine, theirs = own[index], onto[index]
    length = mine.end_s - mine.start_s
    scale = (theirs.end_s - theirs.start_s) / length if length > 0 else 1.0
    return theirs.start_s + (second - mine.start_s) * scale
