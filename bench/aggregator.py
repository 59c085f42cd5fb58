"""Aggregator throughput: MetricsBatches merged per second of CPU, on one core.

    .venv/bin/python bench/aggregator.py --workers 2000 --seconds 3

Builds realistic one-second batches (each from a worker that handled `--per-batch`
transactions: latency and lag histograms, decisions, patterns, four agents' timings),
serialises them as they travel (JSON), then times parse + dedupe + merge with the core
RunAggregator, and the SQLite store's insert, in CPU seconds (time.process_time), so other
load on the machine changes the result little.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stresslab.local.store import SqliteRunStore  # noqa: E402
from stresslab.measurement.aggregate import RunAggregator  # noqa: E402
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us  # noqa: E402

AGENTS = ("transaction_analysis", "pattern_velocity", "geographic_risk", "compliance")
PATTERNS = ("normal", "card_testing", "account_takeover", "impossible_travel", "velocity_burst")


def batch_json(worker: int, second: int, per_batch: int, rng: random.Random) -> str:
    stats = WindowStats()
    stats.scheduled = stats.sent = stats.ok = per_batch
    for _ in range(per_batch):
        record_us(stats.latency, rng.lognormvariate(-4.5, 0.6))
        record_us(stats.lag, rng.expovariate(5000))
        fraud = rng.random() < 0.15
        flagged = fraud if rng.random() < 0.9 else not fraud
        stats.record_decision("block" if flagged else "approve", flagged, fraud,
                              rng.choice(PATTERNS) if fraud else "normal", rng.uniform(5, 900))
        for agent in AGENTS:
            stats.record_agent(agent, rng.lognormvariate(-6, 0.5), failed=False)
    return stats.to_batch("bench", f"w0-s{worker}", 0, worker, second, second).model_dump_json(
        by_alias=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--per-batch", type=int, default=5, help="transactions per batch")
    args = parser.parse_args()
    rng = random.Random(7)
    templates = [batch_json(w, 0, args.per_batch, rng) for w in range(min(args.workers, 200))]
    texts = []
    for second in range(args.seconds):
        for worker in range(args.workers):
            template = templates[worker % len(templates)]
            texts.append(template.replace('"seq":0,"window":0', f'"seq":{second},"window":{second}')
                         .replace('"worker_id":"w0-s' + str(worker % len(templates)) + '"',
                                  f'"worker_id":"w0-s{worker}"'))
    aggregator = RunAggregator("bench", [float(args.workers * args.per_batch)] * args.seconds)
    began = time.process_time()
    batches = [MetricsBatch.model_validate_json(text) for text in texts]
    parsed = time.process_time()
    merged = aggregator.add_all(batches)
    duplicates = aggregator.add_all(batches[: args.workers])
    done = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteRunStore(Path(folder) / "runs.db")
        store_began = time.process_time()
        store.add_batches(batches)
        stored = time.process_time() - store_began
        store.close()
    n = len(texts)
    total = done - began
    print(f"batches: {n:,} ({args.workers:,} workers x {args.seconds} s, "
          f"{args.per_batch} transactions each, {sum(map(len, texts)) / n:,.0f} bytes)")
    print(f"merged {merged:,}, duplicates ignored {aggregator.duplicates:,} (expected "
          f"{args.workers:,}), re-merges {duplicates}")
    print(f"parse {n / (parsed - began):,.0f}/s, merge {n / (done - parsed):,.0f}/s, "
          f"parse+merge {n / total:,.0f} batches per CPU second; SQLite insert "
          f"{n / stored:,.0f}/s")
    assert aggregator.totals.sent == n * args.per_batch
    return 0


if __name__ == "__main__":
    sys.exit(main())
