"""Shaped targets side by side with Locust: a mapped body with an API key, and with SigV4.

Run with `make bench`, or:
    .venv/bin/python bench/target_kinds.py --seconds 15
One nginx on 127.0.0.1 serves both sides. Locust FastHttpUser (one process, 64 users) sends a
plain POST of a real transaction to /v1/score. stresslab (one worker, asked 40,000 TPS) runs
the issue's partner-api scenario against /api/v2/assess: each transaction rendered through the
body template, sent with an X-Api-Key that nginx checks (403 otherwise), or signed with SigV4
(nginx checks the Authorization scheme only: the cost measured is the signing), and each
answer mapped through decision_map. Prints a Markdown table with ratios to Locust, the machine
and its load average (the runs share the machine with whatever else is running).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from generator import BENCH_PY, VENV_PY, Result, run_locust, sample_body
from machine import describe_machine, free_port

from stresslab.judgement.summary import load_summary

ROOT = Path(__file__).resolve().parents[1]
ISSUE_SCENARIO = ROOT / "tests" / "integration" / "targets" / "partner-api.yaml"
ASKED_TPS = 40_000

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
        default_type application/json;
        location /v1/score {{
            return 200 '{{"decision": "approve"}}';
        }}
        location /api/v2/assess {{
            if ($http_x_api_key != "{key}") {{ return 403 '{{"error": "not authorised"}}'; }}
            return 200 '{{"outcome": {{"action": "ACCEPT", "model": "nginx"}}}}';
        }}
        location /iam/assess {{
            if ($http_authorization !~ "^AWS4-HMAC-SHA256 Credential=AKIDBENCH/") {{
                return 403 '{{"message": "Missing Authentication Token"}}';
            }}
            return 200 '{{"outcome": {{"action": "CHALLENGE", "model": "nginx"}}}}';
        }}
    }}
}}
"""


def partner_scenario(workdir: Path, url: str, sigv4: bool) -> Path:
    """The issue's file with this nginx's URL; with SigV4 auth in place of the key header."""
    data = yaml.safe_load(ISSUE_SCENARIO.read_text())
    data["workers"] = 1
    data["target"]["url"] = url
    if sigv4:
        del data["target"]["headers"]
        data["target"]["auth"] = {"type": "sigv4", "service": "execute-api",
                                  "region": "us-east-1"}
    path = workdir / f"partner-{'sigv4' if sigv4 else 'api-key'}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_shaped(
    name: str, scenario: Path, seconds: int, workdir: Path, environ: dict[str, str]
) -> Result:
    out = workdir / scenario.stem
    done = subprocess.run(
        [str(VENV_PY), "-m", "stresslab", "run", str(scenario), "--tps", str(ASKED_TPS),
         "--duration", f"{seconds}s", "--workers", "1", "--quiet", "--out", str(out),
         "--db", str(workdir / "runs.db")],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **environ},
    )
    model = "open model, 1 worker, template + auth + decision_map"
    if not (out / "summary.json").exists():
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(name, model, 0.0, f"not run: {why}")
    summary = load_summary(out / "summary.json")
    counts = summary.counts
    note = (f"asked {ASKED_TPS:,} TPS: ok {counts.ok:,}, errors {counts.errors:,}, "
            f"timeouts {counts.timeouts:,}, dropped {counts.dropped:,}")
    return Result(name, model, summary.load.achieved_tps_avg, note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1,
                        help="Locust, API key, SigV4 again, N times in turn; each round's "
                             "ratios are to its own Locust figure (a busy machine drifts)")
    args = parser.parse_args()
    if not shutil.which("nginx"):
        sys.exit("bench: nginx is not installed (make bench installs it)")
    if not BENCH_PY.exists():
        sys.exit("bench: Locust's venv is missing (make bench creates .venv-bench)")
    key = f"bench_{secrets.token_hex(16)}"
    credentials = {"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
                   "AWS_DEFAULT_REGION": "us-east-1"}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=workdir, port=port, key=key))
        nginx = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(conf)])
        time.sleep(0.5)
        host = f"http://127.0.0.1:{port}"
        body = sample_body()
        api_key = partner_scenario(workdir, f"{host}/api/v2/assess", sigv4=False)
        sigv4 = partner_scenario(workdir, f"{host}/iam/assess", sigv4=True)
        rounds: list[list[Result]] = []
        try:
            for _ in range(args.rounds):
                rounds.append([
                    run_locust(host, body, args.seconds, workdir),
                    run_shaped("stresslab, http + API key", api_key, args.seconds, workdir,
                               {"FRAUD_API_KEY": key}),
                    run_shaped("stresslab, http + SigV4", sigv4, args.seconds, workdir,
                               credentials),
                ])
        finally:
            nginx.terminate()
            nginx.wait()
    load_after = os.getloadavg()
    print(f"Machine: {describe_machine()}")
    print(f"Load average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}\n")
    print("| round | tool | model | requests/s | x Locust | note |\n|---|---|---|---:|---:|---|")
    ratios: dict[str, list[float]] = {}
    for number, results in enumerate(rounds, 1):
        locust = results[0].rps
        for r in results:
            ratio = r.rps / locust if locust else float("nan")
            ratios.setdefault(r.tool, []).append(ratio)
            print(f"| {number} | {r.tool} | {r.model} | {r.rps:,.0f} | {ratio:.2f} | {r.note} |")
    if args.rounds > 1:
        print("\nMedian x Locust: " + ", ".join(
            f"{tool} {statistics.median(values):.2f}" for tool, values in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
