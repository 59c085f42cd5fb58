"""`stresslab run` with a kinesis target and a DynamoDB outcome table, against moto in server
mode and a platform thread: the worker processes score the decisions read back through the
mapping, summary.json reconciles with the platform's count, and a key the body carries
(${env:...}) reaches the platform but no output."""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from aws_stream_platform import CREDENTIALS, MAPPING, Platform, make_stream, make_table, moto_server

ROOT = Path(__file__).resolve().parents[4]
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_a_run_against_kinesis_with_a_table_of_decisions_reconciles(tmp_path: Path) -> None:
    planted = f"pk_live_{random_secrets.token_hex(12)}"
    with moto_server() as url:
        # Given a platform fed by a Kinesis stream that writes its decisions to a table
        stream, table = make_stream(url, "transactions"), make_table(url, "decisions")
        scenario = tmp_path / "kinesis-platform.yaml"
        scenario.write_text(yaml.safe_dump({
            "name": "kinesis-platform", "workers": 2,
            "phases": [{"shape": "constant", "tps": 40, "duration": "3s"}],
            "target": {
                "kind": "kinesis", "stream": stream, "partition_key": "card.bin",
                "timeout": "6s", "outcome": {"dynamodb": table},
                "request": {"body": {
                    "txn_ref": "{{ transaction_id }}", "api_key": "${env:PLATFORM_KEY}",
                    "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"},
                }},
                "response": {"decision": "verdict", "decision_map": MAPPING},
            },
        }, sort_keys=False))
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        env.update(CREDENTIALS, AWS_ENDPOINT_URL=url, PLATFORM_KEY=planted)
        out, db = tmp_path / "out", tmp_path / "runs.db"
        with Platform(url, ("kinesis", stream), ("dynamodb", table)) as platform:
            # When stresslab runs it (two worker processes)
            done = subprocess.run(
                [sys.executable, "-m", "stresslab", "run", str(scenario), "--out", str(out),
                 "--db", str(db), "--quiet"],
                cwd=ROOT, capture_output=True, text=True, timeout=200, env=env, check=False,
            )
    # Then the counts reconcile with the platform's own
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["sent"] == len(platform.received) == counts["scheduled"] == 120, done.stderr
    assert counts["ok"] == len(platform.decided)
    assert counts["timeouts"] == len(platform.silent) > 0
    assert counts["errors"] == 0 and counts["ok"] + counts["timeouts"] == counts["sent"]
    # decisions were scored through the mapping, as the platform gave them
    assert summary["decisions"] == dict(Counter(MAPPING[a] for a in platform.decided.values()))
    assert summary["accuracy"]["labelled"] == counts["ok"]
    # and the key reached the platform, but none of the run's outputs
    assert platform.keys_seen == {planted}
    everything = [done.stdout.encode(), done.stderr.encode()]
    everything += [p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()]
    everything += [p.read_bytes() for p in tmp_path.glob("runs.db*")]
    assert not [blob for blob in everything if planted.encode() in blob]
