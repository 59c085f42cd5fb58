"""What a load worker's memory does when in-flight requests pile up, and after.

    .venv/bin/python bench/worker_pileup.py                # 400 TPS; slow for 10 s of 45 s

One ShardWorker (the worker processes' code, on uvloop) sends to a loopback HTTP server in
another process that answers in 5 ms, then in `--slow` seconds (so the worker's in-flight
requests pile up to its max_in_flight), then in 5 ms again. tracemalloc snapshots before, at
the peak and after the pile-up are diffed by line, beside the RSS, the tasks alive, the
connections open and the traced bytes, so that what grows is named and whether it is
released can be seen.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import multiprocessing
import os
import sys
import time
import tracemalloc
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psutil
import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stresslab.generation.plan import WorkAssignment  # noqa: E402
from stresslab.generation.worker import ShardWorker  # noqa: E402
from stresslab.measurement.metrics import MetricsBatch  # noqa: E402
from stresslab.ports import RealClock  # noqa: E402
from stresslab.scenario.spec import parse_scenario  # noqa: E402
from stresslab.targets.http import HttpTarget  # noqa: E402

ANSWER = {"decision": "approve", "risk_score": 0.1,
          "agents": {name: {"ms": 3.0} for name in ("transaction_analysis", "pattern_velocity",
                                                     "geographic_risk", "compliance")}}


def serve(port: Synchronized[int], delay: Synchronized[float]) -> None:
    async def score(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay.value)
        return web.json_response(ANSWER)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/score", score)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port.value = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await asyncio.Event().wait()

    uvloop.run(main())


class CountingSink:
    def __init__(self) -> None:
        self.batches = 0
        self.in_flight: list[int] = []

    async def emit(self, batch: MetricsBatch) -> None:
        self.batches += 1
        self.in_flight.append(batch.health.in_flight)


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss / 2**20)


def trimmed_rss_mb() -> float:
    """RSS once glibc has given back what it holds free (malloc_trim): what the process
    holds that no live object uses."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mb()


def state(label: str, target: HttpTarget) -> dict[str, Any]:
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    pool = target._pool
    return {
        "label": label, "rss_mb": rss_mb(),
        "traced_mb": current / 2**20, "traced_peak_mb": peak / 2**20,
        "tasks": len(asyncio.all_tasks()), "connections": pool._open, "idle": len(pool._idle),
        "waiters": len(pool._waiters), "gc_objects": len(gc.get_objects()),
    }


def top(after: tracemalloc.Snapshot, before: tracemalloc.Snapshot, n: int) -> list[str]:
    keep = tracemalloc.Filter(True, "*")
    stats = after.filter_traces([keep]).compare_to(before.filter_traces([keep]), "lineno")
    return [f"  {s.size_diff / 1024:>+9.0f} KiB {s.count_diff:>+7} blocks  "
            f"{s.traceback[0].filename.split('site-packages/')[-1].replace(str(Path.cwd()), '')}"
            f":{s.traceback[0].lineno}" for s in stats[:n]]


async def experiment(args: argparse.Namespace, url: str, delay: Synchronized[float]) -> None:
    spec = parse_scenario({
        "name": "pileup", "workers": 1, "seed": 1,
        "phases": [{"name": "p", "shape": "constant", "tps": args.tps,
                    "duration": args.fast + args.slow + args.after}],
        "http": {"max_in_flight": args.max_in_flight},
    }, "bench")
    assignment = WorkAssignment(run_id="pileup", worker_id="w0-s0", wave=0, shard=0, shards=1,
                                start_s=0, end_s=int(spec.duration),
                                run_started_at=time.time() + 0.2)
    sink = CountingSink()
    states, snaps = [], []
    async with HttpTarget(url, spec.http) as target:
        worker = ShardWorker(assignment, spec, target, sink, RealClock())
        running = asyncio.create_task(worker.run())
        for at, label, slow in ((args.fast - 1, "before (fast)", True),
                                (args.fast + args.slow - 0.5, "peak (slow)", False),
                                (spec.duration - 1, "after (fast again)", None)):
            await asyncio.sleep(max(0.0, assignment.run_started_at + at - time.time()))
            states.append(state(label, target))
            if tracemalloc.is_tracing():
                snaps.append(tracemalloc.take_snapshot())
            if slow is not None:
                delay.value = args.slow_delay if slow else 0.005
        totals = await running
    for row in states:
        print(f"{row['label']:<20} RSS {row['rss_mb']:6.1f} MB  traced {row['traced_mb']:6.1f} MB"
              f" (peak {row['traced_peak_mb']:6.1f})  tasks {row['tasks']:5}  connections "
              f"{row['connections']:4} (idle {row['idle']:4})  waiters {row['waiters']:5}  "
              f"gc objects {row['gc_objects']:7}")
    print(f"sent {totals.sent}, dropped {totals.dropped}, completed {totals.completed}; "
          f"most in flight at a batch: {max(sink.in_flight, default=0)}")
    if not snaps:
        print(f"RSS after malloc_trim(0): {trimmed_rss_mb():.1f} MB")
        return
    print("peak vs before, by line:")
    print("\n".join(top(snaps[1], snaps[0], args.top)))
    print("after vs before, by line:")
    print("\n".join(top(snaps[2], snaps[0], args.top)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tps", type=float, default=400.0)
    parser.add_argument("--fast", type=float, default=10.0, help="seconds before the pile-up")
    parser.add_argument("--slow", type=float, default=10.0, help="seconds of slow answers")
    parser.add_argument("--after", type=float, default=25.0, help="seconds after")
    parser.add_argument("--slow-delay", type=float, default=8.0, help="a slow answer's delay")
    parser.add_argument("--max-in-flight", type=int, default=2048)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--rss", action="store_true",
                        help="no tracemalloc (its traces and snapshots inflate RSS): RSS only")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    port, delay = context.Value("i", 0), context.Value("d", 0.005)
    server = context.Process(target=serve, args=(port, delay), daemon=True)
    server.start()
    try:
        while not port.value:
            time.sleep(0.05)
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"{args.tps:g} TPS, answers slow ({args.slow_delay:g} s) from {args.fast:g} s "
              f"for {args.slow:g} s, max_in_flight {args.max_in_flight}")
        if not args.rss:
            tracemalloc.start()
        uvloop.run(experiment(args, f"http://127.0.0.1:{port.value}/v1/score", delay))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
