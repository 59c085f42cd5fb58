"""Record the reference service's answers to a fixed transaction stream (the golden file).

Recorded once with the aiohttp scoring path (commit 1d1ab41), before the lean HTTP path:
    PYTHONPATH=. .venv/bin/python tests/integration/data/record_reference_answers.py \
        tests/integration/data/reference_answers.jsonl.gz
The payloads are stored with the answers, so the test does not depend on the generator.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from collections import Counter
from typing import Any

import aiohttp

from reference_service.config import AgentConfig
from reference_service.service import TargetConfig, start_target
from stresslab.generation.transactions.factory import TransactionFactory

SEED = 5
FAST = AgentConfig(service_time_ms=0.2, service_time_sigma=0)


def timeless(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without its timings (the only fields that differ between two runs)."""
    answer = dict(answer)
    answer.pop("processing_ms", None)
    for report in answer.get("agents", {}).values():
        report.pop("ms", None)
    return answer


async def record(path: str) -> None:
    factory = TransactionFactory("golden", 11, 0)
    payloads = [factory.next(1_767_225_600.0 + i / 50).payload for i in range(600)]
    target = await start_target(config=TargetConfig(seed=SEED, agent_defaults=FAST))
    rows: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        for payload in payloads:
            async with http.post(target.url + "/v1/score", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}) as answer:
                rows.append({"payload": payload, "status": answer.status,
                             "answer": timeless(await answer.json())})
    await target.stop()
    print(Counter(row["answer"].get("decision") for row in rows))
    with gzip.open(path, "wt") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1]))
