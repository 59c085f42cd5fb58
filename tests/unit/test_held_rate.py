"""The highest rate a run held, and the limit above it, from per-second facts."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path

from stresslab.cli import print_summary
from stresslab.judgement.held_rate import held_rate, held_rate_sentence, judged_on_windows
from stresslab.judgement.summary_model import HeldRate, load_summary
from stresslab.outputs.report import render_report_html
from stresslab.scenario.criteria import Criterion

CRITERIA = [Criterion.model_validate(text) for text in
            ("p95_ms < 2000", "error_rate < 0.001", "lost == 0", "achieved_tps >= 1")]


class Ramp:
    """A ramp of 100 TPS more each second; the target's p95 passes 2 s once the plan exceeds
    `slow_above` TPS and the generator sends at most `cap` a second."""

    def __init__(self, seconds: int, slow_above: float, cap: float = 1e9) -> None:
        self.planned = [100.0 * (s + 1) for s in range(seconds)]
        self.slow_above, self.cap = slow_above, cap

    def metrics(self, start: int, end: int) -> Mapping[str, float | None]:
        planned = self.planned[start:end]
        sent = sum(min(p, self.cap) for p in planned)
        dropped = sum(planned) - sent
        slow = max(planned) > self.slow_above
        return {"sent": sent, "dropped": dropped, "p95_ms": 2500.0 if slow else 40.0,
                "error_rate": 0.0, "lost": 0.0, "achieved_tps": sent / (end - start)}


def test_the_held_rate_is_the_busiest_stretch_before_latency_broke() -> None:
    ramp = Ramp(60, slow_above=3000)
    held = held_rate(ramp.planned, ramp.metrics, CRITERIA)
    # stretches start every 5 s; [20, 30) plans 2,100..3,000 TPS, the last one at or under 3,000
    assert (held.tps, held.start_s, held.end_s) == (2550.0, 20, 30)
    assert held.limit is not None
    assert (held.limit.start_s, held.limit.planned_tps) == (25, 3050.0)
    assert held.limit.broken == ["p95_ms < 2000 (observed 2500)"]
    assert (held.limit.broken_stretches, held.limit.of_stretches) == (6, 7)  # [20, 30) held


def test_a_plateau_that_held_only_at_times_names_the_stretches_that_did_not() -> None:
    # Given a plan that holds 1,000 TPS for 60 s where every third stretch drops arrivals
    planned = [1000.0] * 60

    def metrics(start: int, end: int) -> Mapping[str, float | None]:
        dropped = 500.0 if start % 15 == 0 else 0.0
        sent = 1000.0 * (end - start) - dropped
        return {"sent": sent, "dropped": dropped, "p95_ms": 10.0, "error_rate": 0.0,
                "lost": 0.0}

    held = held_rate(planned, metrics, CRITERIA)
    # Then the held rate is the plateau's, and the limit counts the stretches at it that broke
    assert held.tps == 1000.0 and held.limit is not None
    assert (held.limit.start_s, held.limit.broken_stretches, held.limit.of_stretches) == (0, 4, 11)
    sentence = held_rate_sentence(held)
    assert sentence is not None and "at or above it 4 of 11 stretches did not hold" in sentence


def test_a_generator_that_cannot_keep_pace_is_the_limit_not_a_held_rate() -> None:
    ramp = Ramp(60, slow_above=1e9, cap=1500)
    held = held_rate(ramp.planned, ramp.metrics, CRITERIA)
    assert held.tps is not None and held.tps <= 1500
    assert held.limit is not None
    assert held.limit.broken[0].endswith("arrivals dropped: the generator could not keep pace")
    assert held.limit.broken[1].startswith("sent ")


def test_a_run_that_held_everything_has_no_limit_and_says_so() -> None:
    ramp = Ramp(30, slow_above=1e9)
    held = held_rate(ramp.planned, ramp.metrics, CRITERIA)
    assert held.limit is None and held.tps == 2550.0
    assert held_rate_sentence(held) == (
        "Highest rate held: 2,550 TPS for 10 s (seconds 20–30) with every run-wide criterion "
        "met; no stretch planned at or above it broke.")


def test_no_held_stretch_and_a_short_run() -> None:
    ramp = Ramp(4, slow_above=0)
    held = held_rate(ramp.planned, ramp.metrics, CRITERIA)
    assert held.tps is None and held.window_s == 4
    assert held.limit is not None and held.limit.start_s == 0
    sentence = held_rate_sentence(held.model_dump())
    assert sentence is not None and sentence.startswith("No 4 s stretch of this run held")
    assert held_rate_sentence(None) is None


def test_only_run_wide_criteria_on_the_answers_are_judged_on_stretches() -> None:
    criteria = [Criterion.model_validate(c) for c in (
        "p99_ms < 5000", "achieved_tps >= 9000", {"expr": "p95_ms < 1", "during": "sustain"},
        "accuracy > 0.9")]
    assert [c.expr for c in judged_on_windows(criteria)] == ["p99_ms < 5000", "accuracy > 0.9"]


def test_the_summary_model_reads_it_back() -> None:
    ramp = Ramp(60, slow_above=3000)
    held = held_rate(ramp.planned, ramp.metrics, CRITERIA)
    assert HeldRate.model_validate(held.model_dump(mode="json")) == held


def test_the_report_and_the_cli_state_it() -> None:
    summary = load_summary(Path(__file__).with_name("summary_golden") / "plain.json")
    sentence = held_rate_sentence(summary.held_rate)
    assert sentence is not None and sentence.startswith("No 10 s stretch")
    html = render_report_html(summary, [])
    assert 'data-testid="held-rate"' in html and "p99_ms &lt; 1 (observed 15.703)" in html
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_summary(summary, {})
    assert f"  held      {sentence}" in out.getvalue().splitlines()
