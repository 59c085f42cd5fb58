"""How the reference service's capacity scales from 1 to N processes (issue 13), with wrk.

Saturation throughput: wrk keeps `--connections` requests in flight against
`python -m reference_service --processes N` for `--seconds`, and the service's own count
(admin /admin/stats, summed over its processes) says how many it answered and how. Two ways
in for N > 1: `routed` (one wrk per process, each sending only the cards that process owns,
as stresslab's workers do) and `shared` (one wrk on the SO_REUSEPORT port; a process that is
not a card's owner forwards it). wrk shares the cores with the service: the load average and
wrk's own CPU are printed beside each figure.

    .venv/bin/python bench/reference_scaling.py --processes 1 2 --seconds 10 --rounds 3

Beside the rate, the service's own CPU (all its processes, user + system) gives answers per
CPU-second: on a machine whose cores are busy with other work that is the figure that says
how N processes would scale where N cores are free (N x their answers per CPU-second,
against 1 x one process's). Rounds alternate the process counts, so a neighbour's load
drifting over the minutes falls
on all of them alike; each figure is the median of the rounds, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from reference_service.cluster import owner_of  # noqa: E402

RUN = "scalebench"
CARDS = 20_000
_LISTENING = re.compile(r"listening on (http://\S+) admin on (http://\S+)")
_PROCESSES = re.compile(r"processes: (.+)$")
_TOKEN = re.compile(r"admin token: (\S+)")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)

LUA = """
local cards = {%(cards)s}
local n = 0
local id = math.random(1, 1000000000)
request = function()
  n = n + 1
  local card = cards[(n %% #cards) + 1]
  local body = '{"schema":"stresslab.transaction/v1","transaction_id":"%(run)s/w'
    .. id .. '/' .. n .. '","timestamp":"2026-11-27T11:10:00.123Z","amount":42.5,'
    .. '"amount_minor":4250,"currency":"EUR","card":{"card_id":"' .. card
    .. '","bin":"424242","last4":"4242","network":"visa","country":"DE"},'
    .. '"account_id":"acct-1","merchant":{"merchant_id":"m-1","name":"Corner Grocer",'
    .. '"mcc":"5411","category":"grocery","country":"DE","city":"Berlin"},'
    .. '"channel":"card_present","device":{"device_id":"pos-1","type":"pos",'
    .. '"ip":"192.0.2.1"},"location":{"city":"Berlin","country":"DE","lat":52.52,'
    .. '"lon":13.405}}'
  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)
end
"""


@dataclass
class Measured:
    label: str
    answered: int
    errors: int
    seconds: float
    p99_ms: float
    load_average: float
    cpu_s: float

    @property
    def per_cpu_s(self) -> float:
        return self.answered / self.cpu_s if self.cpu_s else float("nan")

    @property
    def rate(self) -> float:
        return self.answered / self.seconds


class Service:
    def __init__(self, processes: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reference_service", "--port", "0",
             "--processes", str(processes)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.own: list[str] = []
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("the reference service did not start")
            if match := _LISTENING.search(line):
                self.url, self.admin = match.groups()
            elif match := _TOKEN.search(line):
                self.token = match.group(1)
            elif match := _PROCESSES.search(line):  # the last line it prints
                self.own = match.group(1).split()
                break

    def stats(self) -> dict[str, object]:
        request = urllib.request.Request(f"{self.admin}/admin/stats?run_id={RUN}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def cpu_s(self) -> float:
        """CPU seconds used so far by the service's processes."""
        root = psutil.Process(self.process.pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def lua_for(folder: Path, name: str, cards: list[str]) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(LUA % {"cards": ",".join(f'"{card}"' for card in cards), "run": RUN})
    return path


def p99_ms(output: str) -> float:
    match = _P99.search(output)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def measure(label: str, service: Service, targets: list[tuple[str, Path]], connections: int,
            seconds: float) -> Measured:
    before = service.stats()
    cpu_before = service.cpu_s()
    per = max(1, connections // len(targets))
    started = time.monotonic()
    runs = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{seconds:g}s", "--latency",
                              "-s", str(script), f"{url}/v1/score"],
                             stdout=subprocess.PIPE, text=True)
            for url, script in targets]
    outputs = [run.communicate()[0] for run in runs]
    elapsed = time.monotonic() - started
    load = os.getloadavg()[0]
    time.sleep(0.5)  # the last answers in flight are counted
    after = service.stats()
    cpu = service.cpu_s() - cpu_before
    answered = int(after["received"]) - int(before["received"])  # type: ignore[call-overload]
    ok_after = after["responses"].get("200", 0)  # type: ignore[attr-defined]
    ok_before = before["responses"].get("200", 0)  # type: ignore[attr-defined]
    return Measured(label, answered, answered - (ok_after - ok_before), elapsed,
                    max(p99_ms(output) for output in outputs), load, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    cards = [f"card-{number}" for number in range(CARDS)]
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as folder:
        for processes in [count for _ in range(args.rounds) for count in args.processes]:
            service = Service(processes)
            try:
                time.sleep(1.0)
                everyone = lua_for(Path(folder), "all", cards)
                ways = [("shared", [(service.url, everyone)])]
                if processes > 1:
                    routed = [(url, lua_for(Path(folder), f"p{index}", [
                        card for card in cards if owner_of(card, processes) == index]))
                        for index, url in enumerate(service.own)]
                    ways.insert(0, ("routed", routed))
                for way, targets in ways:
                    label = f"{processes} process{'es' if processes > 1 else ''}, {way}"
                    results.append(measure(label, service, targets, args.connections,
                                           args.seconds))
            finally:
                service.stop()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; wrk {args.connections} connections, "
          f"{args.seconds:g} s each")
    labels = list(dict.fromkeys(result.label for result in results))
    by_label = {label: [r for r in results if r.label == label] for label in labels}
    base = statistics.median(r.rate for r in by_label[labels[0]])
    print(f"{'how':<26}{'answered/s':>12}{'(low-high)':>16}{'x first':>9}{'errors':>8}"
          f"{'p99 ms':>9}{'load avg':>12}{'cores used':>12}{'per CPU s':>11}")
    for label, runs in by_label.items():
        rate = statistics.median(r.rate for r in runs)
        low, high = min(r.rate for r in runs), max(r.rate for r in runs)
        loads = f"{min(r.load_average for r in runs):.1f}-{max(r.load_average for r in runs):.1f}"
        print(f"{label:<26}{rate:>12,.0f}{f'({low:,.0f}-{high:,.0f})':>16}{rate / base:>9.2f}"
              f"{sum(r.errors for r in runs):>8}"
              f"{statistics.median(r.p99_ms for r in runs):>9.1f}{loads:>12}"
              f"{statistics.median(r.cpu_s / r.seconds for r in runs):>12.2f}"
              f"{statistics.median(r.per_cpu_s for r in runs):>11,.0f}")


if __name__ == "__main__":
    main()
