"""`stresslab probe` as a user meets it: a real process against real services on 127.0.0.1.

The foreign partner API (FastAPI, its own schema and key) and its certificates come from the
integration fixtures; the bundled reference service is started as `stresslab target` would.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port
from tests.integration.targets.aws.aws_stream_platform import CREDENTIALS as STREAM_CREDENTIALS
from tests.integration.targets.aws.aws_stream_platform import (
    Platform,
    make_stream,
    make_table,
    moto_server,
)
from tests.integration.targets.aws.aws_wire_stub import (
    FUNCTION,
    MACHINE,
    MAPPING,
    REGION,
    Ledger,
    every,
    express_routes,
    lambda_routes,
    serve,
)
from tests.integration.targets.certificates import make_certificates
from tests.integration.targets.partner_service import (
    ISSUE_SCENARIO,
    PartnerSettings,
    serve_partner,
)
from tests.integration.targets.sigv4_service import serve_sigv4

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def planted_key() -> str:
    return f"pk_live_{secrets.token_hex(12)}"


def probe(
    *args: str, key: str | None = None, cwd: Path = ROOT, environ: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "FRAUD_API_KEY"}
    if key is not None:
        env["FRAUD_API_KEY"] = key
    env.update(environ or {})
    return subprocess.run([sys.executable, "-m", "stresslab", "probe", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=100, env=env)


def scenario_file(tmp_path: Path, base_url: str, **target_changes: Any) -> str:
    """The issue's partner-api file; only the URL's port changes (and what a test breaks)."""
    data = yaml.safe_load(ISSUE_SCENARIO.read_text())
    data["target"]["url"] = f"{base_url}/api/v2/assess"
    for name, value in target_changes.items():
        if value is None:
            data["target"].pop(name, None)
        else:
            data["target"][name] = value
    path = tmp_path / "partner-api.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_a_good_probe_shows_the_request_answer_and_mapped_decision(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url), "--count", "3", key=planted_key)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f" at {partner.base_url}/api/v2/assess" in out.splitlines()[0]
    assert out.count("> POST /api/v2/assess HTTP/1.1") == 3  # the bytes a run sends
    assert out.count(f"> Host: {partner.base_url.removeprefix('http://')}") == 3
    assert out.count("> Content-Length: ") == 3
    assert out.count("> X-Api-Key: ***") == 3
    assert '"txn_ref":"probe/0/0"' in out and '"value":{"minor":' in out
    assert out.count("< 200") == 3
    decisions = re.findall(r"^= (\w+)$", out, re.MULTILINE)
    mapping = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}
    assert decisions == [mapping[action] for action in partner.ledger.answered.values()]
    assert len(partner.ledger.answered) == 3  # the service's own count
    assert "probe: 3 of 3 mapped to a decision" in out
    assert planted_key not in out + result.stderr


def test_a_wrong_key_is_named_as_refused_and_exits_1(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url), key="pk_live_wrong")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "< 403" in result.stdout
    assert "! auth refused (403): the target does not accept our credentials" in result.stdout
    assert partner.ledger.refused == 1
    assert "pk_live_wrong" not in result.stdout + result.stderr


def test_repeated_refusals_stop_the_probe_before_it_hammers(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url), "--count", "20",
                       key="pk_live_wrong")
    assert result.returncode == 1
    assert partner.ledger.refused == 5  # the refusal limit, not 20
    assert "the target refuses our credentials" in result.stdout.splitlines()[-1]


def test_the_probe_stops_after_the_sections_own_refusal_limit(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url, abort_after_refusals=2),
                       "--count", "20", key="pk_live_wrong")
    assert result.returncode == 1
    assert partner.ledger.refused == 2  # target.abort_after_refusals, as a run counts them
    assert "the target refuses our credentials" in result.stdout.splitlines()[-1]


def test_a_missing_decision_path_is_named_with_the_answers_top_keys(tmp_path, planted_key):
    settings = PartnerSettings(api_key=planted_key, answer_without_action=True)
    with serve_partner(settings) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url), key=planted_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("! decision path outcome.action missing; the answer's top keys: outcome"
            in result.stdout)
    assert "probe: 0 of 1 mapped to a decision, 1 not" in result.stdout


def test_an_unmapped_value_is_named_with_the_maps_keys(tmp_path, planted_key):
    response = {"decision": "outcome.action", "decision_map": {"DECLINE": "block"}}
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url, response=response),
                       key=planted_key)
    assert result.returncode == 1, result.stdout + result.stderr
    action = next(iter(partner.ledger.answered.values()))
    assert action != "DECLINE"  # the first generated transaction is routine spend
    assert (f'! unmapped value "{action}" at outcome.action (decision_map has DECLINE)'
            in result.stdout)


def test_a_server_certificate_from_an_unknown_ca_is_a_tls_failure(tmp_path, planted_key):
    certs = make_certificates(tmp_path)
    tls = (certs.server_cert, certs.server_key, certs.ca)
    with serve_partner(PartnerSettings(api_key=planted_key), tls=tls) as partner:
        mtls = {"type": "mtls", "cert_file": certs.client_cert, "key_file": certs.client_key}
        untrusted = probe(scenario_file(tmp_path, partner.base_url, auth=mtls), key=planted_key)
        trusted = probe(scenario_file(tmp_path, partner.base_url, auth=mtls, ca_file=certs.ca),
                        key=planted_key)
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    assert "! TLS failure: the server's certificate is from an unknown CA" in untrusted.stdout
    assert "add its CA with target.ca_file" in untrusted.stdout
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert len(partner.ledger.answered) == 1


def test_a_client_certificate_the_server_does_not_trust_is_named(tmp_path, planted_key):
    certs = make_certificates(tmp_path)
    tls = (certs.server_cert, certs.server_key, certs.ca)
    stranger = {"type": "mtls", "cert_file": certs.stranger_cert, "key_file": certs.stranger_key}
    with serve_partner(PartnerSettings(api_key=planted_key), tls=tls) as partner:
        result = probe(scenario_file(tmp_path, partner.base_url, auth=stranger,
                                     ca_file=certs.ca), key=planted_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "it most likely refused our client certificate" in result.stdout
    assert partner.ledger.answered == {}


def test_a_sigv4_probe_is_signed_and_the_secret_key_is_in_no_output(tmp_path):
    secret_key = secrets.token_hex(20)
    aws = {"AWS_ACCESS_KEY_ID": "AKIDPROBE", "AWS_SECRET_ACCESS_KEY": secret_key,
           "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    sigv4 = {"type": "sigv4", "service": "execute-api", "region": "us-east-1"}
    with serve_sigv4({"AKIDPROBE": secret_key}) as service:
        path = scenario_file(tmp_path, service.url, headers=None, auth=sigv4)
        result = probe(path, "--count", "2", environ=aws)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(service.ledger.accepted) == 2 and service.ledger.rejected == []
    assert result.stdout.count("> Authorization: AWS4-HMAC-SHA256 Credential=AKIDPROBE/") == 2
    assert result.stdout.lower().count("> x-amz-content-sha256: ") == 2  # the body's hash
    assert secret_key not in result.stdout + result.stderr


def test_no_answer_in_time_is_a_timeout(tmp_path, planted_key):
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = probe(scenario_file(tmp_path, url, timeout="500ms"), key=planted_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "! timeout: no answer within 0.5s (target.timeout)" in result.stdout


def test_nothing_listening_is_connection_refused(tmp_path, planted_key):
    port = free_port()
    result = probe(scenario_file(tmp_path, f"http://127.0.0.1:{port}"), key=planted_key)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("! ")]
    assert problems == [f"! connection refused: nothing listens at 127.0.0.1:{port}"]


def test_the_planted_secret_is_in_no_output_even_in_the_url_and_body(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        path = scenario_file(tmp_path, partner.base_url)
        data = yaml.safe_load(Path(path).read_text())
        data["target"]["url"] += "?code=${env:FRAUD_API_KEY}"
        data["target"]["request"]["body"]["country"] = "${env:FRAUD_API_KEY}"
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
        result = probe(path, "--count", "2", key=planted_key)
    assert partner.ledger.query_codes == [planted_key, planted_key]  # it was sent
    assert result.stdout.count("***") >= 6  # header, query, body; twice
    assert planted_key not in result.stdout + result.stderr


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "--count must be at least 1"),
    (["--target", "ftp://x"], "--target takes 'local' or an http(s) URL"),
])
def test_bad_flags_exit_2(tmp_path, args, message):
    result = probe(str(ISSUE_SCENARIO), *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_input_exits_2_naming_it_and_sends_nothing(tmp_path, planted_key):
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        missing_env = probe(scenario_file(tmp_path, partner.base_url))
        unknown_path = probe(scenario_file(
            tmp_path, partner.base_url, request={"body": {"ref": "{{ transaction.idd }}"}}),
            key=planted_key)
        unreadable = probe(scenario_file(
            tmp_path, partner.base_url.replace("http:", "https:"),
            auth={"type": "mtls", "cert_file": str(tmp_path / "none.pem"),
                  "key_file": str(tmp_path / "none.key")}), key=planted_key)
    assert partner.ledger.answered == {}
    for result, message in ((missing_env, "environment variable FRAUD_API_KEY is not set"),
                            (unknown_path, "transaction.idd"),
                            (unreadable, "none.pem")):
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert result.stdout == ""


def test_the_bundled_reference_service_probes_ok(tmp_path):
    default = probe("smoke", "--count", "2")
    assert default.returncode == 0, default.stdout + default.stderr
    assert "reference service — simulated agents" in default.stdout
    assert "probe: 2 of 2 mapped to a decision" in default.stdout

    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "target", "--port", str(port)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert served.stdout is not None
        assert "listening on" in served.stdout.readline()
        result = probe("smoke", "--target", f"http://127.0.0.1:{port}/v1/score")
    finally:
        served.terminate()
        served.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^= (approve|review|block)$", result.stdout, re.MULTILINE)


AWS_REQUEST = {"body": {"txn_ref": "{{ transaction_id }}",
                        "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"}}}


def aws_scenario(tmp_path: Path, target: dict[str, Any]) -> str:
    data = yaml.safe_load(ISSUE_SCENARIO.read_text())
    data["target"] = {**target, "request": AWS_REQUEST,
                      "response": {"decision": "outcome.action", "decision_map": MAPPING}}
    path = tmp_path / f"{target['kind']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


async def probe_against(routes: list[Any], scenario: str, *args: str) -> tuple[int, str, str]:
    """Probe in a real process while the AWS wire stub answers in this test's event loop."""
    async with serve(routes) as url:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": url,
               "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stresslab", "probe", scenario, *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 100)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_lambda_target_probes_through_the_runs_invoke_and_names_a_function_error(
    tmp_path,
):
    ledger = Ledger()
    scenario = aws_scenario(tmp_path, {"kind": "lambda", "function": FUNCTION,
                                       "qualifier": "live"})
    code, out, err = await probe_against(
        lambda_routes(ledger, every({3: "failed"})), scenario, "--count", "3")
    assert code == 1, out + err  # the third invocation raised in the function
    assert ledger.calls == 3 and ledger.qualifiers == ["live"] * 3
    assert out.count(f"> lambda {FUNCTION}:live") == 3
    assert out.count('"txn_ref":"probe/0/') == 3
    decisions = re.findall(r"^= (\w+)$", out, re.MULTILINE)
    scored = [action for action in ledger.answered.values() if action in MAPPING]
    assert decisions == [MAPPING[action] for action in scored] and len(decisions) == 2
    assert "< http_5xx" in out and "the function raised (FunctionError)" in out
    assert "probe: 2 of 3 mapped to a decision, 1 not" in out


async def test_an_express_workflow_probes_ok(tmp_path):
    ledger = Ledger()
    scenario = aws_scenario(tmp_path, {"kind": "stepfunctions-express",
                                       "state_machine_arn": MACHINE})
    code, out, err = await probe_against(express_routes(ledger, every({})), scenario)
    assert code == 0, out + err
    assert ledger.calls == 1
    assert f"> stepfunctions-express {MACHINE}" in out
    assert re.search(r"^= (approve|review|block)$", out, re.MULTILINE)


def test_a_kinesis_target_probes_with_decisions_read_back_from_a_table(tmp_path):
    with moto_server() as url:
        stream, table = make_stream(url, "transactions"), make_table(url, "decisions")
        scenario = aws_scenario(tmp_path, {
            "kind": "kinesis", "stream": stream, "timeout": "10s",
            "outcome": {"dynamodb": table}})
        data = yaml.safe_load(Path(scenario).read_text())
        data["target"]["response"]["decision"] = "verdict"
        Path(scenario).write_text(yaml.safe_dump(data, sort_keys=False))
        with Platform(url, ("kinesis", stream), ("dynamodb", table)) as platform:
            result = probe(scenario, "--count", "2", environ={
                **STREAM_CREDENTIALS, "AWS_ENDPOINT_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(platform.received) == ["probe/0/0", "probe/0/1"]
    assert result.stdout.count(f"> kinesis {stream}, decisions from {table}") == 2
    decisions = re.findall(r"^= (\w+)$", result.stdout, re.MULTILINE)
    assert decisions == [MAPPING[platform.decided[ref]] for ref in ("probe/0/0", "probe/0/1")]


def test_an_oauth2_probe_fetches_a_token_and_masks_it_and_the_client_secret(tmp_path):
    client_secret = f"cs_{secrets.token_hex(12)}"
    settings = PartnerSettings(client_id="stresslab", client_secret=client_secret,
                               token_lifetime=60)
    with serve_partner(settings) as partner:
        bearer = {"type": "bearer", "token_url": f"{partner.base_url}/token",
                  "client_id": "stresslab", "client_secret": "${env:CLIENT_SECRET}"}
        result = probe(scenario_file(tmp_path, partner.base_url, headers=None, auth=bearer),
                       "--count", "2", environ={"CLIENT_SECRET": client_secret})
    assert result.returncode == 0, result.stdout + result.stderr
    assert partner.ledger.tokens_issued == 1  # one token, shared by both requests
    assert result.stdout.count("> Authorization: Bearer ***") == 2
    assert client_secret not in result.stdout + result.stderr
