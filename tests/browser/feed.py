"""A live-feed snapshot built by the real LiveFeed from a steady run of made-up seconds, for
pages fed without a run: 20 answers a second, every agent called, one fault window."""

from __future__ import annotations

from collections.abc import Sequence

from stresslab.judgement.business import load_price_table
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.spec import ScenarioSpec

PER_SECOND = 20


def steady_snapshot(
    spec: ScenarioSpec, run_id: str, started_at: str, seconds: int, *,
    decisions: tuple[str, str], patterns: Sequence[str], agents: Sequence[str],
    fault: str, fail_every: int, latency_spread_s: float = 0.0,
) -> str:
    """`seconds` ticks; answers alternate `decisions` and `patterns`; agent n fails when
    (answer + second) % fail_every == n; `fault` is active from second 10 to 20."""
    rates = [float(PER_SECOND)] * seconds
    run = describe_run(spec, run_id, started_at, "running", "http://t", rates)
    feed = LiveFeed(spec, run, load_price_table(), usd_to_currency=1.0)
    aggregator = RunAggregator(run.run_id, rates)
    for second in range(seconds):
        stats = WindowStats()
        stats.scheduled = stats.sent = stats.ok = PER_SECOND
        for i in range(PER_SECOND):
            record_us(stats.latency, 0.01 + latency_spread_s * (i % 5))
            stats.record_decision(decisions[i % 2], i % 4 == 0, i % 4 == 0,
                                  patterns[i % 2], 10.0)
            for n, agent in enumerate(agents):
                stats.record_agent(agent, 0.001 * (n + 1), failed=(i + second) % fail_every == n)
        aggregator.add(stats.to_batch(run.run_id, "w0", 0, 0, second, second))
        feed.tick(aggregator, second, faults_active=[fault] if 10 <= second < 20 else [])
    return feed.snapshot().to_json()
