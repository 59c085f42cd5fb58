"""What shaping a request costs per transaction: a compiled body template vs plain orjson.dumps.

    .venv/bin/python bench/request_shaping.py [--count 20000] [--rounds 5]

Rows: the transaction as stresslab sends it today (orjson.dumps), the issue's partner body
compiled once (targets/template.py), the same with filters, and SigV4 signing of the
rendered body (botocore). Best of N rounds, microseconds per transaction; a Markdown table
with the machine it ran on. Nothing is asserted: tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from stresslab.generation.transactions import TransactionFactory  # noqa: E402
from stresslab.targets.auth import SigV4Signer  # noqa: E402
from stresslab.targets.config import SigV4Auth  # noqa: E402
from stresslab.targets.template import compile_body  # noqa: E402

PARTNER_BODY = {
    "txn_ref": "{{ transaction_id }}",
    "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"},
    "card_bin": "{{ card.bin }}",
    "merchant_category": "{{ merchant.mcc }}",
    "country": "{{ location.country }}",
}
FILTERED_BODY = {
    **PARTNER_BODY,
    "at_ms": "{{ timestamp | epoch_ms }}",
    "ccy_lower": "{{ currency | lower }}",
    "ref": "stresslab:{{ transaction_id }}",
    "device": "{{ device.type | upper }}",
}


def best_us(work: Callable[[Any], object], items: list[Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            work(item)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    factory = TransactionFactory("bench", 1, 0)
    payloads = [factory.next(1_767_225_600.0 + i / 1000).payload for i in range(args.count)]
    partner = compile_body(PARTNER_BODY)
    filtered = compile_body(FILTERED_BODY)
    signer = SigV4Signer(SigV4Auth(type="sigv4", service="execute-api", region="us-east-1"),
                         Credentials("AKIDBENCH", "secret"))
    url = "https://abc.execute-api.us-east-1.amazonaws.com/prod/assess"
    headers = {"Content-Type": "application/json"}
    bodies = [partner(p) for p in payloads]

    rows = [
        ("orjson.dumps(transaction) (today's body)", best_us(orjson.dumps, payloads, args.rounds)),
        ("compiled partner body (5 fields)", best_us(partner, payloads, args.rounds)),
        ("compiled body with filters (9 fields)", best_us(filtered, payloads, args.rounds)),
        ("SigV4 signature of a rendered body",
         best_us(lambda b: signer.sign("POST", url, headers, b), bodies[:2000], args.rounds)),
    ]
    base = rows[0][1]
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {args.count} transactions, best of {args.rounds}")
    print()
    print("| per transaction | µs | vs orjson.dumps |")
    print("|---|---:|---:|")
    for name, micros in rows:
        print(f"| {name} | {micros:.2f} | {micros / base:.2f}x |")


if __name__ == "__main__":
    main()
