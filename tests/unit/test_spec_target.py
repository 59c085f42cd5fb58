"""The scenario's `target:` section as the spec holds it: parsed by section.py, one line naming
the field, the same spec again after the JSON round trip the worker processes make."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.scenario.spec import ScenarioError, ScenarioSpec, parse_scenario
from stresslab.targets.config import HttpTarget
from stresslab.targets.factory import with_target_url

URL = "http://127.0.0.1:9000/api/v2/assess"


def scenario(**target: Any) -> dict[str, Any]:
    return {"name": "partner", "phases": [{"shape": "constant", "tps": 1, "duration": 1}],
            "target": {"url": URL, **target}}


@pytest.mark.parametrize("auth", [
    None,
    {"type": "api_key", "value": "${env:KEY}"},
    {"type": "bearer", "token": "${env:TOKEN}"},
    {"type": "bearer", "token_url": "http://127.0.0.1:9/token", "client_id": "id",
     "client_secret": "${env:SECRET}"},
    {"type": "sigv4", "service": "execute-api", "region": "us-east-1"},
])
def test_the_spec_survives_the_json_round_trip_to_the_workers(auth: Any) -> None:
    spec = parse_scenario(scenario(auth=auth), "partner.yaml")
    again = ScenarioSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert ScenarioSpec.model_validate(spec.model_dump()) == spec


def test_a_scenario_without_a_target_has_none() -> None:
    data = scenario()
    del data["target"]
    assert parse_scenario(data, "s.yaml").target is None


@pytest.mark.parametrize("change, message", [
    ({"kind": "ftp"}, "s.yaml: target.kind: unknown kind 'ftp'"),
    ({"auth": {"type": "api_key"}}, "s.yaml: target.auth.value: Field required"),
    ({"headers": {"X-Key": "${vault:x}"}}, "s.yaml: target.headers: X-Key: unknown secret"),
])
def test_a_bad_section_is_one_line_naming_the_field(change: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario(**change), "s.yaml")
    assert str(caught.value).startswith(message), caught.value


def test_the_target_flag_replaces_the_sections_url_and_nothing_else() -> None:
    spec = parse_scenario(scenario(headers={"X-Api-Key": "${env:KEY}"}), "s.yaml")
    moved = with_target_url(spec, "http://127.0.0.1:7000/other")
    assert isinstance(moved.target, HttpTarget)
    assert moved.target.url == "http://127.0.0.1:7000/other"
    assert moved.target.headers == {"X-Api-Key": "${env:KEY}"}
    assert with_target_url(spec, None) is spec


def test_a_run_started_from_the_dashboards_checks_the_section_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stresslab.control import StartRun
    from stresslab.local.server import BadRequest, ServerSettings, build_spec

    monkeypatch.delenv("PARTNER_KEY_UNSET", raising=False)
    inline = scenario(headers={"X-Api-Key": "${env:PARTNER_KEY_UNSET}"})
    allowed = ServerSettings(allowed_secrets=("PARTNER_KEY_UNSET",))  # --allow-secret
    with pytest.raises(BadRequest, match=r"^environment variable PARTNER_KEY_UNSET is not set$"):
        build_spec(StartRun(scenario=inline), allowed)
    monkeypatch.setenv("PARTNER_KEY_UNSET", "k")
    assert build_spec(StartRun(scenario=inline), allowed).target is not None


def test_a_local_run_given_a_url_sends_the_section_there(tmp_path: Any) -> None:
    from stresslab.local.runner import LocalRun, LocalRunOptions

    spec = parse_scenario(scenario(), "s.yaml")
    moved = LocalRun(LocalRunOptions(spec=spec, target_url="http://127.0.0.1:7000/x",
                                     db_path=tmp_path / "db", progress=False))
    assert isinstance(moved.spec.target, HttpTarget)
    assert moved.spec.target.url == "http://127.0.0.1:7000/x"
    own = LocalRun(LocalRunOptions(spec=spec, db_path=tmp_path / "db", progress=False))
    assert own.options.target_url == URL and own.spec is spec


@pytest.mark.parametrize("auth, name", [
    ({"type": "bearer", "token_url": "http://127.0.0.1:9/token", "client_id": "${env:CID_UNSET}",
      "client_secret": "s"}, "CID_UNSET"),
    ({"type": "bearer", "token_url": "http://127.0.0.1:9/token", "client_id": "id",
      "client_secret": "${env:SECRET_UNSET}"}, "SECRET_UNSET"),
    ({"type": "bearer", "token": "${env:TOKEN_UNSET}"}, "TOKEN_UNSET"),
    ({"type": "api_key", "value": "${env:KEY_UNSET}"}, "KEY_UNSET"),
])
def test_every_secret_of_the_section_is_checked_before_the_run(auth: Any, name: str) -> None:
    from stresslab.targets.factory import check_target
    from stresslab.targets.secrets import SecretError

    spec = parse_scenario(scenario(auth=auth), "s.yaml")
    with pytest.raises(SecretError, match=f"^environment variable {name} is not set$"):
        check_target(spec, {})
