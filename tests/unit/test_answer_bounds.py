"""The summary says, in a note, when the target's answers hit the worker's bounds."""

from __future__ import annotations

from typing import Any

from stresslab.generation.plan import plan_run
from stresslab.judgement.business import load_price_table
from stresslab.judgement.summary import RunFacts, build_summary
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.spec import parse_scenario

TPS = 50


def _summary(hostile: bool, **response: Any) -> dict[str, Any]:
    spec = parse_scenario({
        "name": "bounds", "phases": [{"shape": "constant", "tps": TPS, "duration": 4}],
        "response": response,
    }, "test")
    plan = plan_run(spec, "r1")
    aggregator = RunAggregator("r1", plan.expected_per_second)
    for n in range(4):
        stats = WindowStats()
        stats.scheduled = stats.sent = TPS
        stats.errors["oversized"] = 5 if hostile else 0
        stats.ok = TPS - stats.errors["oversized"]
        for _ in range(stats.ok):
            record_us(stats.latency, 0.01)
            stats.record_decision("approve", False, False, "normal", 1.0)
        if hostile:
            stats.decisions_folded, stats.agents_folded, stats.names_cleaned = 7, 30, 2
        aggregator.add(stats.to_batch("r1", "w0-s0", 0, 0, n, n, final=n == 3))
    facts = RunFacts(run_id="r1", target="t", started_at="s", ended_at="e", status="completed",
                     target_received=TPS * 4, workers_expected=1, notes=["from the runner"])
    return build_summary(spec, plan, aggregator, facts, load_price_table(), 1.0)


def test_a_well_behaved_target_leaves_no_note():
    summary = _summary(hostile=False)
    assert summary["notes"] == ["from the runner"]
    assert summary["counts"]["errors_by_class"]["oversized"] == 0


def test_each_bound_hit_is_one_note_with_its_count_and_limit():
    summary = _summary(hostile=True, max_decisions=4, max_agents=6, max_name_length=32)
    notes = summary["notes"]
    assert notes[0] == "from the runner"
    text = " | ".join(notes[1:])
    assert "20 answers larger than 64 KiB counted as 'oversized' errors" in text
    assert "28 decisions beyond the first 4 distinct values counted as 'other'" in text
    assert "120 agent reports beyond the first 6 agent names counted as 'other'" in text
    assert "8 names from the target cleaned (markup, control characters, over 32 chars)" in text
    # the oversized answers are errors, counted once: the run still reconciles
    assert summary["counts"]["errors_by_class"]["oversized"] == 20
    assert summary["counts"]["reconciled"] is True
