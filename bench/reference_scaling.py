"""How the reference service's capacity scales from 1 to N processes (issue 13), with wrk.

Saturation throughput: wrk keeps `--connections` requests in flight against
`python -m reference_service --processes N` for `--seconds`, and the service's own count
(admin /admin/stats, summed over its processes) says how many it answered and how. Two ways
in for N > 1: `routed` (one wrk per process, each sending only the cards that process owns,
as stresslab's workers do) and `shared` (one wrk on the SO_REUSEPORT port; a process that is
not a card's owner forwards it). wrk shares the cores with the service: the load average and
wrk's own CPU are printed beside each figure.

    .venv/bin/python bench/reference_scaling.py --processes 1 2 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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
            elif match := _PROCESSES.search(line):
                self.own = match.group(1).split()
            elif match := _TOKEN.search(line):
                self.token = match.group(1)
                break
        self.own = self.own or [self.url]

    def stats(self) -> dict[str, object]:
        request = urllib.request.Request(f"{self.admin}/admin/stats?run_id={RUN}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))

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
    answered = int(after["received"]) - int(before["received"])  # type: ignore[call-overload]
    ok_after = after["responses"].get("200", 0)  # type: ignore[attr-defined]
    ok_before = before["responses"].get("200", 0)  # type: ignore[attr-defined]
    return Measured(label, answered, answered - (ok_after - ok_before), elapsed,
                    max(p99_ms(output) for output in outputs), load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    cards = [f"card-{number}" for number in range(CARDS)]
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as folder:
        for processes in args.processes:
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
    base = results[0].rate
    print(f"{'how':<26}{'answered/s':>12}{'x 1 process':>13}{'errors':>8}{'p99 ms':>9}"
          f"{'load avg':>10}")
    for result in results:
        print(f"{result.label:<26}{result.rate:>12,.0f}{result.rate / base:>13.2f}"
              f"{result.errors:>8}{result.p99_ms:>9.1f}{result.load_average:>10.2f}")


if __name__ == "__main__":
    main()
