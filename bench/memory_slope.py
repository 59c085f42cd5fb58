"""Memory over a sustained run: RSS of the runner, each worker and each reference-service
process, sampled while `stresslab run sustained` runs, and its growth after warm-up beside the
design brief's goal (within +5% of the size after warm-up).

    .venv/bin/python bench/memory_slope.py                 # 30 min at 1,000 TPS (5 min warm-up)
    .venv/bin/python bench/memory_slope.py --minutes 60
    .venv/bin/python bench/memory_slope.py --quick         # 3 min at 250 TPS (1 min warm-up)

`--minutes N` runs the sustained scenario (2 h) at time scale N/120; `--load-scale 0.5` makes
its 2,000 TPS 1,000. Samples go to OUT/samples.csv, the run's files to OUT/run/.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_MINUTES = 120.0  # scenarios/sustained.yaml: 2 h
GOAL_PCT = 5.0


@dataclass
class Series:
    role: str
    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (minute, RSS MB)

    def after(self, minute: float) -> list[tuple[float, float]]:
        return [s for s in self.samples if s[0] >= minute]


def classify(runner: psutil.Process) -> dict[int, tuple[str, psutil.Process]]:
    """The runner, its worker processes and the reference service's processes, by pid."""
    found = {runner.pid: ("runner", runner)}
    services: set[int] = set()
    for child in runner.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            parent = child.ppid()
        except psutil.Error:
            continue
        if "reference_service" in command or parent in services:
            services.add(child.pid)
            found[child.pid] = ("service", child)
        elif "resource_tracker" in command:
            continue
        elif "multiprocessing" in command and parent == runner.pid:
            found[child.pid] = ("worker", child)
    return found


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of RSS (MB) against time, per hour."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if not spread:
        return None
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / spread * 60


def report(series: list[Series], warmup: float) -> list[str]:
    lines = [f"{'process':<22}{'after warm-up':>14}{'at end':>10}{'growth':>9}"
             f"{'slope':>14}{'goal':>18}"]
    for one in series:
        points = one.after(warmup)
        if len(points) < 2:
            continue
        start, end = points[0][1], points[-1][1]
        growth = (end - start) / start * 100
        slope = slope_per_hour(points) or 0.0
        verdict = "met" if growth < GOAL_PCT else "not met"
        lines.append(f"{one.role + ' ' + str(one.pid):<22}{start:>11.1f} MB{end:>7.1f} MB"
                     f"{growth:>+8.1f}%{slope:>+9.1f} MB/h{f'< +{GOAL_PCT:g}%: ' + verdict:>18}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="run length (default 30)")
    parser.add_argument("--warmup", type=float, help="minutes left out (default: 5, or 1 quick)")
    parser.add_argument("--load-scale", type=float, default=0.5, help="of 2,000 TPS (0.5)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--quick", action="store_true", help="3 min at 250 TPS, 1 min warm-up")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "memory")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.load_scale, args.interval = 3.0, 0.125, 5.0
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 5.0)
    if not 0 < warmup < args.minutes:
        parser.error("--warmup must be between 0 and --minutes")
    args.out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "stresslab", "run", "sustained",
               "--time-scale", f"{args.minutes / SCENARIO_MINUTES:g}",
               "--load-scale", f"{args.load_scale:g}", "--quiet",
               "--out", str(args.out / "run"), "--db", str(args.out / "runs.db")]
    print("$ " + " ".join(command[1:]), flush=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}", flush=True)
    process = subprocess.Popen(command, cwd=ROOT)
    runner = psutil.Process(process.pid)
    series: dict[int, Series] = {}
    loads: list[float] = []
    began = time.monotonic()
    with (args.out / "samples.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["minute", "role", "pid", "rss_mb", "load1"])
        while process.poll() is None:
            minute = (time.monotonic() - began) / 60
            load = os.getloadavg()[0]
            loads.append(load)
            for pid, (role, proc) in classify(runner).items():
                try:
                    rss = proc.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                series.setdefault(pid, Series(role, pid)).samples.append((minute, rss))
                writer.writerow([f"{minute:.3f}", role, pid, f"{rss:.1f}", f"{load:.2f}"])
            handle.flush()
            time.sleep(args.interval)
    print(f"run exit code {process.returncode}; load average during the run: "
          f"mean {sum(loads) / max(len(loads), 1):.2f}, max {max(loads, default=0):.2f}")
    print(f"memory slope per hour after {warmup:g} min warm-up "
          f"(goal: each within +{GOAL_PCT:g}% of its size after warm-up)")
    order = {"runner": 0, "worker": 1, "service": 2}
    for line in report(sorted(series.values(), key=lambda s: (order[s.role], s.pid)), warmup):
        print(line)
    return process.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
