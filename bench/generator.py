"""Generator capacity side by side: wrk, Locust, a bare aiohttp loop and stresslab, one nginx.

Run with `make bench` (installs Locust into .venv-bench and wrk/nginx from Debian), or:
    .venv/bin/python bench/generator.py --seconds 15
Every tool sends POSTs of a real transaction body to the same nginx on 127.0.0.1 that answers
a fixed decision; each gets one process (wrk: one thread) and 64 connections where it has
the notion. Prints a Markdown table with ratios to Locust and the machine it ran on.
`--rounds N` runs Locust and stresslab in turn N times (on a busy machine the share of the
cores a tool gets drifts between runs, so each round's ratio is to its own Locust figure) and
gives the median; each run's CPU time (all its processes) per request is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from machine import describe_machine, free_port

from stresslab.judgement.summary import RunSummary, load_summary

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
BENCH_PY = ROOT / ".venv-bench" / "bin" / "python"
CONNECTIONS = 64
# above what one worker can send, so its row is its ceiling (the shortfall is counted as dropped)
CAPACITY_ASK_TPS = 60_000

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        keepalive_requests 1000000;
        location /v1/score {{
            default_type application/json;
            return 200 '{{"decision": "approve"}}';
        }}
    }}
}}
"""

LOCUSTFILE = """
import json
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
BODY = json.loads({body!r})
class Scorer(FastHttpUser):
    wait_time = constant(0)
    @task
    def score(self):
        self.client.post("/v1/score", json=BODY)
"""

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""

AIOHTTP_LOOP = """
import asyncio, sys, time, aiohttp, uvloop
URL, BODY, SECONDS = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
async def main():
    count = 0
    deadline = time.monotonic() + SECONDS
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        async def loop():
            nonlocal count
            while time.monotonic() < deadline:
                async with session.post(URL, data=BODY,
                                        headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                count += 1
        await asyncio.gather(*(loop() for _ in range(64)))
    print(count / SECONDS)
uvloop.run(main())
"""


@dataclass
class Result:
    tool: str
    model: str
    rps: float
    note: str = ""
    cpu_s: float = 0.0  # user + system seconds of the tool's processes (children waited for)
    requests: int = 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_note(result: Result) -> str:
    if not result.requests:
        return ""
    return f"{result.cpu_s / result.requests * 1e6:.0f} CPU us/request"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def sample_body() -> str:
    out = subprocess.run(
        [str(VENV_PY), "-c",
         "import json; from stresslab.generation.transactions import TransactionFactory as F;"
         "print(json.dumps(F('bench', 1, 0).next(1.8e9).payload))"],
        capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip()


def run_wrk(url: str, body: str, seconds: int, workdir: Path) -> Result:
    script = workdir / "post.lua"
    script.write_text(WRK_LUA.format(body=json.dumps(body)))
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return Result("wrk (C)", "closed loop, 1 thread, 64 conns", float(match.group(1)) if match
                  else 0.0, "no latency correction")


def run_locust(host: str, body: str, seconds: int, workdir: Path) -> Result:
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(body=body))
    prefix = workdir / "locust"
    subprocess.run([str(BENCH_PY), "-m", "locust", "-f", str(locustfile), "--headless",
                    "-u", str(CONNECTIONS), "-r", str(CONNECTIONS), "-t", f"{seconds}s",
                    "--host", host, "--csv", str(prefix), "--only-summary"],
                   capture_output=True, text=True, cwd=workdir)
    rows = (workdir / "locust_stats.csv").read_text().splitlines()
    header = rows[0].split(",")
    aggregated = next(r.split(",") for r in rows if ",Aggregated," in r)
    rps = float(aggregated[header.index("Requests/s")])
    requests = int(aggregated[header.index("Request Count")])
    return Result("Locust FastHttpUser", "closed loop, 1 process, 64 users", rps,
                  requests=requests)


def run_aiohttp(url: str, body: str, seconds: int) -> Result:
    out = subprocess.run([str(VENV_PY), "-c", AIOHTTP_LOOP, url, body, str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return Result("bare aiohttp loop", "closed loop, 1 process, 64 conns", float(out.strip()))


def run_stresslab(url: str, seconds: int, tps: int, workers: int, workdir: Path) -> RunSummary:
    out = workdir / f"stresslab-{tps}-{workers}"
    subprocess.run([str(VENV_PY), "-m", "stresslab", "run", "smoke", "--target", url,
                    "--tps", str(tps), "--duration", f"{seconds}s", "--workers", str(workers),
                    "--quiet", "--out", str(out), "--db", str(workdir / "runs.db")],
                   capture_output=True, text=True, cwd=ROOT)
    return load_summary(out / "summary.json")


def timed(run: Callable[[], Result]) -> Result:
    """The tool's result with the CPU time its processes used and the load average after."""
    before = children_cpu()
    result = run()
    result.cpu_s = children_cpu() - before
    result.note = "; ".join(part for part in (result.note, f"load {load_average()}") if part)
    return result


def capacity_result(capacity: RunSummary) -> Result:
    return Result(
        "stresslab (1 worker)", "open model, CO-correct HDR, real transactions",
        capacity.load.achieved_tps_avg,
        f"asked {CAPACITY_ASK_TPS:,} TPS: {capacity.counts.dropped:,} dropped, counted",
        requests=capacity.counts.sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--accuracy-seconds", type=int, default=60,
                        help="length of the 5,000 TPS rate-accuracy run (0: none)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="Locust and stresslab in turn, N times; the median ratio")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is not installed (make bench installs it)")
    if not BENCH_PY.exists():
        sys.exit("bench: Locust's venv is missing (make bench creates .venv-bench)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        (workdir / "nginx.conf").write_text(NGINX_CONF.format(root=workdir, port=port))
        nginx = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")])
        time.sleep(0.5)
        host = f"http://127.0.0.1:{port}"
        url = f"{host}/v1/score"
        try:
            body = sample_body()
            results = [run_wrk(url, body, args.seconds, workdir),
                       run_aiohttp(url, body, args.seconds)]
            for _ in range(args.rounds):
                results.append(timed(lambda: run_locust(host, body, args.seconds, workdir)))
                results.append(timed(lambda: capacity_result(
                    run_stresslab(url, args.seconds, CAPACITY_ASK_TPS, 1, workdir))))
            accuracy = (run_stresslab(url, args.accuracy_seconds, 5000, 2, workdir)
                        if args.accuracy_seconds else None)
        finally:
            nginx.terminate()
            nginx.wait()
    locust = next(r.rps for r in results if r.tool.startswith("Locust"))
    print(f"Machine: {describe_machine()}\n")
    print("| tool | model | requests/s | x Locust | note |\n|---|---|---:|---:|---|")
    ratios: list[float] = []
    for r in results:
        if r.tool.startswith("Locust"):
            locust = r.rps
        elif r.tool.startswith("stresslab"):
            ratios.append(r.rps / locust)
        note = "; ".join(part for part in (r.note, cpu_note(r)) if part)
        print(f"| {r.tool} | {r.model} | {r.rps:,.0f} | {r.rps / locust:.2f} | {note} |")
    if args.rounds > 1:
        print(f"\nstresslab x Locust, each round to its own Locust run: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}")
    if accuracy is None:
        return 0
    load, lag, p99 = accuracy.load, accuracy.schedule_lag_ms, accuracy.latency_ms.p99
    nan = float("nan")
    print(f"\nRate accuracy, 5,000 TPS for {args.accuracy_seconds} s with 2 workers: achieved "
          f"{load.achieved_tps_avg:,.1f} TPS ({load.rate_error_pct or 0.0:+.2f}%), "
          f"dropped {accuracy.counts.dropped:,}, schedule lag p99 "
          f"{lag.p99 if lag else nan:.2f} ms, latency p99 {nan if p99 is None else p99:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
