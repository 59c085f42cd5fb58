"""docs/ci/*.yml: the GitHub Actions workflow and the GitLab CI job that docs/ci.md shows parse as
YAML, every stresslab command in them is accepted by the real CLI, and what they publish is
where a real run of those commands writes it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from stresslab.cli import build_parser
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {"github": ROOT / "docs" / "ci" / "github-actions.yml",
           "gitlab": ROOT / "docs" / "ci" / "gitlab-ci.yml"}
SEPARATORS = {";", "&&", "||", "&", "|", "then", "else", "do"}
REDIRECTIONS = {">", ">>", ">&", "<"}
pytestmark = pytest.mark.timeout(120)


def shell_of(name: str, recipe: dict[str, Any]) -> list[str]:
    """The shell lines a recipe runs."""
    if name == "github":
        steps = [step for job in recipe["jobs"].values() for step in job["steps"]]
        return [line for step in steps if "run" in step for line in step["run"].splitlines()]
    job = recipe["stresslab"]
    return [line for part in ("before_script", "script") for line in job[part]]


def stresslab_commands(lines: list[str]) -> list[list[str]]:
    """Each `stresslab ...` simple command's arguments, up to any redirection."""
    found = []
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        redirected = False
        for token in [*lexer, ";"]:
            if token in SEPARATORS:
                if command[:1] == ["nohup"]:
                    command = command[1:]
                if command[:1] == ["stresslab"]:
                    found.append(command[1:])
                command, redirected = [], False
            elif token in REDIRECTIONS:
                redirected = True
            elif not redirected:
                command.append(token)
    return found


def published(name: str, recipe: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the JUnit report paths, every artifact path) a recipe publishes."""
    if name == "github":
        steps = [step for job in recipe["jobs"].values() for step in job["steps"]]
        junit = [s["with"]["report_paths"] for s in steps
                 if s.get("uses", "").startswith("mikepenz/action-junit-report")]
        uploads = [path for s in steps if s.get("uses", "").startswith("actions/upload-artifact")
                   for path in s["with"]["path"].split()]
        return junit, uploads
    artifacts = recipe["stresslab"]["artifacts"]
    return [artifacts["reports"]["junit"]], list(artifacts["paths"])


@pytest.fixture(scope="module")
def recipes() -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(path.read_text()) for name, path in RECIPES.items()}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_stresslab_command_in_the_recipe_is_accepted_by_the_cli(name, recipes):
    commands = stresslab_commands(shell_of(name, recipes[name]))
    assert {command[0] for command in commands} == {"target", "run", "compare"}, commands
    for command in commands:
        try:
            args = build_parser().parse_args(command)
        except SystemExit as refused:
            raise AssertionError(f"{name}: stresslab {shlex.join(command)} refused") from refused
        if args.command == "run":
            assert args.out == Path("results/ci") and args.scenario == "smoke"
    # And it publishes junit.xml and report.html from the folder its run writes to
    junit, paths = published(name, recipes[name])
    assert junit == ["results/ci/junit.xml"]
    assert {"results/ci/report.html", "results/ci/junit.xml"} <= set(paths)


def test_the_ci_md_shows_both_recipes_as_they_are() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    for path in RECIPES.values():
        assert path.read_text().strip() in text, f"docs/ci.md does not show {path.name} as it is"


@pytest.mark.slow
def test_the_recipes_commands_run_and_write_what_they_publish(recipes, tmp_path):
    # Given the recipe's own commands, on a free port, shortened to 3 s, in a fresh folder
    port = str(free_port())
    commands = {command[0]: [arg.replace("8088", port) for arg in command]
                for command in stresslab_commands(shell_of("github", recipes["github"]))}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def stresslab(*args: str, **kwargs: Any) -> Any:
        return subprocess.run([sys.executable, "-m", "stresslab", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=100, **kwargs)

    target = subprocess.Popen([sys.executable, "-m", "stresslab", *commands["target"]],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _until_healthy(f"http://127.0.0.1:{port}/health")
        # When the run and the comparison run as the job runs them
        run = stresslab(*commands["run"], "--tps", "20", "--duration", "3s")
        assert run.returncode == 0, run.stderr
        compare = commands["compare"]
        baseline = compare.index("baseline/summary.json")
        compared = stresslab(*compare[:baseline], "results/ci/summary.json",
                             *compare[baseline + 1:])
        assert compared.returncode == 0, compared.stdout + compared.stderr
    finally:
        target.terminate()
        target.wait(timeout=20)
    # Then every file both recipes publish from the run is where the run wrote it
    for name in RECIPES:
        junit, paths = published(name, recipes[name])
        for path in [*junit, *paths]:
            if path.startswith("results/"):
                assert (tmp_path / path).exists(), f"{name} publishes {path}: not written"


def _until_healthy(url: str) -> None:
    for _ in range(150):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")
