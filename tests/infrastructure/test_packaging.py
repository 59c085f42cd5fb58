"""Tests for staging the Lambda asset without Docker: contents, cache, and the offline failure."""

import subprocess
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from stacks.packaging import StagingError, stage_lambda_asset
from tests.infrastructure.conftest import ROOT, SynthesizedApp


def _no_pip(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    raise AssertionError("pip must not run when the wheels are already staged")


def test_asset_holds_the_sources_and_linux_cp312_wheels(synthesized: SynthesizedApp) -> None:
    # Given the asset the session's synthesis staged (the cache is already warm: pip never runs)
    asset = stage_lambda_asset(ROOT, cdk_app.STAGING_DIR).path

    # Then it holds both packages and the pinned wheels built for the Lambda runtime
    assert (asset / "stresslab" / "scenario" / "spec.py").is_file()
    assert (asset / "lambdas" / "aggregator.py").is_file()
    assert (asset / "scenarios" / "smoke.yaml").is_file()
    assert (asset / "config" / "pricing.yaml").is_file()
    assert list(asset.glob("pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu.so"))
    assert list(asset.glob("pyhdrh.cpython-312-x86_64-linux-gnu.so"))
    assert (asset / "pydantic-2.14.3.dist-info").is_dir()
    assert not list(asset.rglob("__pycache__"))


def test_staged_wheels_are_reused_without_pip(
    synthesized: SynthesizedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", _no_pip)

    first = stage_lambda_asset(ROOT, cdk_app.STAGING_DIR)
    again = stage_lambda_asset(ROOT, cdk_app.STAGING_DIR)

    assert first == again


def test_a_source_change_restages_the_sources_but_not_the_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a project whose wheels are already staged
    root = _project(tmp_path)
    staging = tmp_path / "staging"
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_pip(calls))
    before = stage_lambda_asset(root, staging)

    # When a handler changes
    (root / "lambdas" / "handler.py").write_text("VALUE = 2\n")
    after = stage_lambda_asset(root, staging)

    # Then the asset is new and holds the change, and pip ran only the first time
    assert after.asset_hash != before.asset_hash
    assert (after.path / "lambdas" / "handler.py").read_text() == "VALUE = 2\n"
    assert (after.path / "wheel_marker.py").is_file()
    assert len(calls) == 1
    assert not before.path.exists()  # stale assets are removed


def test_offline_pip_fails_with_a_message_that_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            command, 1, "", "ERROR: No matching distribution found for pydantic==2.14.3\n"
        )

    monkeypatch.setattr(subprocess, "run", offline)

    with pytest.raises(StagingError) as error:
        stage_lambda_asset(_project(tmp_path), tmp_path / "staging")

    message = str(error.value)
    assert "No matching distribution found for pydantic==2.14.3" in message
    assert "PIP_NO_INDEX=1 PIP_FIND_LINKS" in message
    assert not list((tmp_path / "staging").glob("deps-*"))


def test_pip_is_asked_for_manylinux_cp312_binaries_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_pip(calls))

    stage_lambda_asset(_project(tmp_path), tmp_path / "staging")

    (command,) = calls
    for flag in (
        ["--platform", "manylinux2014_x86_64"], ["--only-binary=:all:"],
        ["--python-version", "3.12"], ["--implementation", "cp"],
    ):
        index = command.index(flag[0])
        assert command[index: index + len(flag)] == flag


def test_requirements_lambda_pins_the_runtime_requirements_versions() -> None:
    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
        pairs = [line.split("==") for line in lines if "==" in line and not line.startswith("#")]
        return {package.lower(): version for package, version in pairs}

    lambda_pins = pins("requirements-lambda.txt")
    runtime = pins("requirements.txt")
    # everything the core needs goes into the asset, at the versions the tests ran with
    assert runtime.items() <= lambda_pins.items()
    assert lambda_pins.items() <= {**pins("requirements-dev.txt"), **runtime}.items()


def _project(root: Path) -> Path:
    (root / "stresslab").mkdir()
    (root / "stresslab" / "__init__.py").write_text("")
    (root / "lambdas").mkdir()
    (root / "lambdas" / "handler.py").write_text("VALUE = 1\n")
    for folder in ("reference_service", "scenarios", "config"):
        (root / folder).mkdir()
    (root / "requirements-lambda.txt").write_text("pydantic==2.14.3\n")
    return root


def _fake_pip(calls: list[list[str]]) -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        target.mkdir(parents=True)
        (target / "wheel_marker.py").write_text("")
        return subprocess.CompletedProcess(command, 0, "", "")

    return run
