"""The whole local pipeline (generator, reference service, aggregator, store) at a rate,
judged by the peak-load criteria, each figure printed beside its goal.

    .venv/bin/python bench/pipeline.py --tps 5000 --duration 60s       # constant rate
    .venv/bin/python bench/pipeline.py --time-scale 0.2                 # the design brief's ramp
                                                                        # to 10,000 TPS, 6 min

A constant run answers "does it hold this rate?"; the ramp answers "what is the highest rate it
held, and what broke above it?" (summary.json `held_rate`). Everything runs on this machine:
its cores are shared by every process of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(scenario: str, extra: list[str], workers: int | None, keep: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        command = [sys.executable, "-m", "stresslab", "run", scenario, *extra,
                   "--out", f"{tmp}/out", "--db", f"{tmp}/runs.db", "--quiet"]
        if workers:
            command += ["--workers", str(workers)]
        print("$", " ".join(command[1:]), flush=True)
        finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        summary = Path(tmp, "out", "summary.json")
        if not summary.exists():
            sys.exit(f"the run wrote no summary (exit {finished.returncode}): "
                     f"{finished.stderr.strip().splitlines()[-1:]}")
        if keep:
            shutil.copytree(Path(tmp, "out"), keep, dirs_exist_ok=True)
            print(f"outputs kept in {keep}")
        return json.loads(summary.read_text())


def report(summary: dict, tps: float | None) -> None:
    load, counts, latency = summary["load"], summary["counts"], summary["latency_ms"]
    sent = counts["sent"] or 1
    error_rate = (counts["errors"] + counts["timeouts"]) / sent
    lost = sent - counts["ok"] - counts["errors"] - counts["timeouts"]
    rows = [
        ("achieved TPS", f"{load['achieved_tps_avg']:,.1f}",
         f"{tps:,.0f} ±1%" if tps else "the plan", _met(abs(load["rate_error_pct"] or 0) <= 1)),
        ("dropped arrivals", f"{counts['dropped']:,}", "0", _met(counts["dropped"] == 0)),
        ("p95", f"{latency['p95']:,.0f} ms", "< 2,000 ms", _met(latency["p95"] < 2000)),
        ("p99", f"{latency['p99']:,.0f} ms", "< 5,000 ms", _met(latency["p99"] < 5000)),
        ("errors", f"{error_rate:.3%}", "< 0.1%", _met(error_rate < 0.001)),
        ("lost", f"{lost:,}", "0", _met(lost == 0)),
        ("target received = sent", f"{counts['target_received']:,} / {counts['sent']:,}", "equal",
         _met(counts["target_received"] == counts["sent"])),
    ]
    print(f"{'':24}{'measured':>18}  {'goal':>14}")
    for name, value, goal, met in rows:
        print(f"{name:24}{value:>18}  {goal:>14}  {met}")
    held = summary.get("held_rate")
    if held:
        from stresslab.judgement.held_rate import held_rate_sentence
        print(held_rate_sentence(held))
    print(f"criteria: {'PASSED' if summary['passed'] else 'FAILED'} "
          + ", ".join(f"{c['expr']}{'' if c['passed'] else ' FAIL'}" for c in summary["criteria"]))


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="peak-load")
    parser.add_argument("--tps", type=float, default=5000)
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--time-scale", type=float,
                        help="run the scenario's own shape at this time scale instead of --tps")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--keep", type=Path, help="copy the run's outputs (summary, report) here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.time_scale:
        summary = run(args.scenario, ["--time-scale", str(args.time_scale)], args.workers,
                      args.keep)
        report(summary, None)
    else:
        summary = run(args.scenario, ["--tps", f"{args.tps:g}", "--duration", args.duration],
                      args.workers, args.keep)
        report(summary, args.tps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
