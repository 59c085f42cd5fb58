"""`stresslab run` with a `target:` section against foreign services it did not shape.

The issue's own file (only the port changes) against the FastAPI partner API with an API key;
the same with SigV4 against a server that checks signatures with botocore; OAuth2 with tokens
that expire mid-run; mTLS; a wrong key; answers without the decision. In each, the counts
reconcile with the service's own ledger, the decisions are scored through the mapping, and the
planted secret is searched for in every output file, the SQLite store and the logs.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from certificates import make_certificates
from partner_service import ISSUE_SCENARIO, PartnerSettings, serve_partner
from sigv4_service import serve_sigv4

ROOT = Path(__file__).resolve().parents[3]
ACCESS_KEY = "AKIASTRESSLABRUN001"
pytestmark = pytest.mark.timeout(240)


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    out: Path
    db: Path

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads((self.out / "summary.json").read_text())
        return summary

    def everything(self) -> bytes:
        """Every byte the run let out: its output files, the store (and its journal), logs."""
        blobs = [self.stdout.encode(), self.stderr.encode()]
        blobs += [path.read_bytes() for path in sorted(self.out.rglob("*")) if path.is_file()]
        blobs += [path.read_bytes() for path in self.db.parent.glob(f"{self.db.name}*")]
        return b"\n".join(blobs)


def scenario_file(folder: Path, port: int, **target_changes: Any) -> Path:
    """The issue's file with the port changed; other changes (auth, ...) to its target."""
    text = ISSUE_SCENARIO.read_text().replace("127.0.0.1:9000/", f"127.0.0.1:{port}/")
    if target_changes:
        data = yaml.safe_load(text)
        for name, value in target_changes.items():
            if value is None:
                data["target"].pop(name)
            else:
                data["target"][name] = value
        text = yaml.safe_dump(data, sort_keys=False)
    path = folder / "partner-api.yaml"
    path.write_text(text)
    return path


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def stresslab_run(
    folder: Path, scenario: Path, env: dict[str, str], *args: str
) -> Finished:
    out, db = folder / "out", folder / "runs.db"
    done = subprocess.run(
        [sys.executable, "-m", "stresslab", "run", str(scenario), "--out", str(out),
         "--db", str(db), "--quiet", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=200, env=env, check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr, out, db)


def clean_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "FRAUD_", "PARTNER_"))}
    return {**env, **extra}


@pytest.fixture
def planted() -> str:
    return f"pk_live_{random_secrets.token_hex(12)}"


def assert_scored_through_the_mapping(finished: Finished, answered: dict[str, str]) -> None:
    summary = finished.summary
    counts = summary["counts"]
    assert counts["sent"] == len(answered) > 0  # the service's own count
    assert counts["ok"] == counts["sent"] and counts["errors"] == 0
    decisions = summary["decisions"]
    assert set(decisions) <= {"approve", "review", "block"}, decisions
    expected = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}
    by_service: dict[str, int] = {}
    for action in answered.values():
        by_service[expected[action]] = by_service.get(expected[action], 0) + 1
    assert decisions == by_service
    assert summary["accuracy"]["labelled"] == counts["ok"]


@pytest.mark.slow
def test_the_issues_file_runs_with_an_api_key_and_the_key_is_nowhere(
    tmp_path: Path, planted: str,
) -> None:
    with serve_partner(PartnerSettings(api_key=planted)) as partner:
        scenario = scenario_file(tmp_path, port_of(partner.base_url))
        finished = stresslab_run(tmp_path, scenario, clean_env(FRAUD_API_KEY=planted))
        answered = dict(partner.ledger.answered)
        assert partner.ledger.refused == 0
    assert finished.code == 0, finished.stderr
    assert finished.summary["counts"]["scheduled"] == 6000
    assert_scored_through_the_mapping(finished, answered)
    assert set(finished.summary["decisions"]) >= {"approve", "block"}
    assert planted.encode() not in finished.everything()
    assert b"${env:FRAUD_API_KEY}" in finished.db.read_bytes()  # the spec as written


def short(*args: str) -> tuple[str, ...]:
    """The issue's 20 s at 300 TPS, shortened to 3 s by the command line (the file unchanged)."""
    return ("--time-scale", "0.15", *args)


def test_sigv4_from_the_default_chain_in_place_of_the_headers(tmp_path: Path) -> None:
    secret = random_secrets.token_urlsafe(30)
    env = clean_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=secret,
        AWS_SESSION_TOKEN=f"session-{secret}",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true",
    )
    auth = {"type": "sigv4", "service": "execute-api", "region": "us-east-1"}
    with serve_sigv4({ACCESS_KEY: secret}) as service:
        scenario = scenario_file(tmp_path, port_of(service.url), headers=None, auth=auth)
        finished = stresslab_run(tmp_path, scenario, env, *short())
        accepted, rejected = len(service.ledger.accepted), list(service.ledger.rejected)
    assert finished.code == 0, finished.stderr
    assert rejected == []
    counts = finished.summary["counts"]
    assert counts["sent"] == counts["ok"] == accepted == 900
    assert finished.summary["decisions"] == {"approve": 900}
    everything = finished.everything()
    assert secret.encode() not in everything


def test_oauth2_tokens_expire_mid_run_and_no_request_is_refused(tmp_path: Path) -> None:
    client_secret = f"cs_{random_secrets.token_hex(16)}"
    # tokens of 2 s, refreshed 0.5 s before they end: each worker's expires twice in 5 s
    settings = PartnerSettings(client_id="stresslab", client_secret=client_secret,
                               token_lifetime=2.0)
    with serve_partner(settings) as partner:
        auth = {"type": "bearer", "token_url": f"{partner.base_url}/token",
                "client_id": "stresslab", "client_secret": "${env:PARTNER_CLIENT_SECRET}"}
        scenario = scenario_file(tmp_path, port_of(partner.base_url), headers=None, auth=auth)
        finished = stresslab_run(tmp_path, scenario,
                                 clean_env(PARTNER_CLIENT_SECRET=client_secret),
                                 "--time-scale", "0.25", "--load-scale", "0.3")
        answered = dict(partner.ledger.answered)
        ledger = partner.ledger
        assert ledger.refused == 0 and ledger.expired_tokens_presented == 0
        assert ledger.tokens_issued >= 2 * 3  # each worker's first token and two refreshes
    assert finished.code == 0, finished.stderr
    assert_scored_through_the_mapping(finished, answered)
    assert client_secret.encode() not in finished.everything()


def test_mtls_with_a_client_certificate(tmp_path: Path, planted: str) -> None:
    (tmp_path / "certs").mkdir()
    certs = make_certificates(tmp_path / "certs")
    tls = (certs.server_cert, certs.server_key, certs.ca)
    with serve_partner(PartnerSettings(api_key=planted), tls=tls) as partner:
        url = f"{partner.base_url}/api/v2/assess"
        scenario = scenario_file(
            tmp_path, port_of(partner.base_url), url=url, ca_file=certs.ca,
            auth={"type": "mtls", "cert_file": certs.client_cert, "key_file": certs.client_key},
        )
        finished = stresslab_run(tmp_path, scenario, clean_env(FRAUD_API_KEY=planted), *short())
        answered = dict(partner.ledger.answered)
    assert finished.code == 0, finished.stderr
    assert_scored_through_the_mapping(finished, answered)
    assert planted.encode() not in finished.everything()


def test_a_wrong_key_aborts_the_run_with_one_line_after_at_most_five_requests_in_all(
    tmp_path: Path,
) -> None:
    with serve_partner(PartnerSettings(api_key="the-right-key")) as partner:
        scenario = scenario_file(tmp_path, port_of(partner.base_url))
        finished = stresslab_run(tmp_path, scenario, clean_env(FRAUD_API_KEY="wrong-key"))
        refused = partner.ledger.refused
    assert finished.code == 3, finished.stderr
    assert f"target {partner.base_url}/api/v2/assess" in finished.stderr.splitlines()[0]
    assert "stresslab: the target refuses our credentials (403 from 127.0.0.1)" in \
        finished.stderr.splitlines()
    # the two workers share the budget of five refusals (two each): never five per worker
    assert 1 <= refused <= 5, refused
    summary = finished.summary
    assert summary["status"] == "aborted"
    assert summary["notes"][0] == \
        "the run was aborted: the target refuses our credentials (403 from 127.0.0.1)"
    assert summary["counts"]["scheduled"] < 6000 / 2


def test_answers_without_the_decision_keep_three_masked_samples(
    tmp_path: Path, planted: str,
) -> None:
    settings = PartnerSettings(api_key=planted, answer_without_action=True)
    with serve_partner(settings) as partner:
        scenario = scenario_file(tmp_path, port_of(partner.base_url))
        finished = stresslab_run(tmp_path, scenario, clean_env(FRAUD_API_KEY=planted),
                                 "--time-scale", "0.05")
        answered = len(partner.ledger.answered)
    summary = finished.summary
    assert summary["counts"]["errors_by_class"]["invalid_response"] == answered == 300
    assert summary["invalid_responses"] == {
        "count": 300,
        "samples": ['decision path outcome.action missing: {"outcome":{"status":"queued"}}'] * 3,
    }


@pytest.fixture
def partner_file(tmp_path: Path) -> Iterator[Path]:
    yield scenario_file(tmp_path, 9)  # nothing listens: every case fails before sending


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("change, message", [
    ({"kind": "carrier-pigeon"}, "target.kind: unknown kind 'carrier-pigeon'"),
    ({"request": {"body": {"card": "{{ card.colour }}"}}},
     "unknown path 'card.colour' in the transaction"),
    ({"auth": {"type": "magic"}}, "target.auth"),
])
def test_bad_target_sections_exit_2_naming_the_field(
    tmp_path: Path, partner_file: Path, command: str, change: dict[str, Any], message: str,
) -> None:
    data = yaml.safe_load(partner_file.read_text())
    data["target"].update(change)
    partner_file.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, "-m", "stresslab", command, str(partner_file),
         *(["--db", str(tmp_path / "db")] if command == "run" else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=clean_env(FRAUD_API_KEY="k"),
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


@pytest.mark.parametrize("change, env, message", [
    ({}, {}, "environment variable FRAUD_API_KEY is not set"),
    ({"url": "https://127.0.0.1:9/api/v2/assess",
      "auth": {"type": "mtls", "cert_file": "/no/such/client.pem", "key_file": "/no/key.pem"}},
     {"FRAUD_API_KEY": "k"}, "target.auth.cert_file: cannot read /no/such/client.pem"),
    ({"url": "https://127.0.0.1:9/api/v2/assess", "ca_file": "/no/such/ca.pem"},
     {"FRAUD_API_KEY": "k"}, "target.ca_file: cannot read /no/such/ca.pem"),
])
@pytest.mark.parametrize("search", [False, True])
def test_what_a_run_cannot_use_exits_2_naming_it_before_anything_runs(
    tmp_path: Path, partner_file: Path, change: dict[str, Any], env: dict[str, str],
    message: str, search: bool,
) -> None:
    data = yaml.safe_load(partner_file.read_text())
    data["target"].update(change)
    if search:  # a capacity search is checked as a run is
        data["capacity_search"] = {"start_tps": 10, "step_tps": 10, "max_tps": 30}
    partner_file.write_text(yaml.safe_dump(data))
    finished = stresslab_run(tmp_path, partner_file, clean_env(**env))
    assert finished.code == 2, finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], finished.stderr
    assert not finished.out.exists()


async def test_the_live_feed_and_the_store_never_carry_the_secret(
    tmp_path: Path, planted: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stresslab.local.runner import LocalRun, LocalRunOptions
    from stresslab.scenario.spec import load_scenario
    from tests.run_parts import Recorder

    monkeypatch.setenv("FRAUD_API_KEY", planted)  # the worker processes inherit it
    recorder = Recorder()
    with serve_partner(PartnerSettings(api_key=planted)) as partner:
        spec = load_scenario(str(scenario_file(tmp_path, port_of(partner.base_url))))
        run = LocalRun(LocalRunOptions(
            spec=spec.scaled(time_scale=0.1), out_dir=tmp_path / "out",
            db_path=tmp_path / "runs.db", progress=False, broadcaster=recorder,
        ))
        result = await run.execute()
        answered = len(partner.ledger.answered)
    assert result.run_summary.counts.ok == answered == 600
    assert any(message.get("type") == "snapshot" for message in recorder.messages)
    live = json.dumps(recorder.messages)
    assert "/api/v2/assess" in live and planted not in live
    assert planted.encode() not in (tmp_path / "runs.db").read_bytes()


def test_a_token_endpoint_refusing_our_client_secret_aborts_the_run(tmp_path: Path) -> None:
    settings = PartnerSettings(client_id="stresslab", client_secret="the-right-secret")
    with serve_partner(settings) as partner:
        auth = {"type": "bearer", "token_url": f"{partner.base_url}/token",
                "client_id": "stresslab", "client_secret": "${env:PARTNER_CLIENT_SECRET}"}
        scenario = scenario_file(tmp_path, port_of(partner.base_url), headers=None, auth=auth)
        finished = stresslab_run(tmp_path, scenario,
                                 clean_env(PARTNER_CLIENT_SECRET="a-wrong-secret"))
        assert partner.ledger.answered == {} and partner.ledger.tokens_issued == 0
    assert finished.code == 3, finished.stderr
    assert "stresslab: the target refuses our credentials (401 from 127.0.0.1)" in \
        finished.stderr.splitlines()
    assert finished.summary["counts"]["scheduled"] < 6000 / 2
