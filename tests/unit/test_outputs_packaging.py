"""The report templates and stylesheet travel with the code: in the wheel and the Lambda asset."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stacks.packaging import stage_lambda_asset

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ROOT / "stresslab" / "outputs"
RESOURCE_FOLDERS = ("templates", "static")


def _resources() -> list[Path]:
    files = [path for folder in RESOURCE_FOLDERS for path in (OUTPUTS / folder).rglob("*")
             if path.is_file()]
    assert files, "the outputs package has no templates or stylesheet"
    return files


def test_every_template_and_stylesheet_is_package_data() -> None:
    # Given the patterns setuptools puts into the wheel next to the modules
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = [pattern for patterns in config["tool"]["setuptools"]["package-data"].values()
                for pattern in patterns]
    # Then each file the outputs read at render is matched by one
    missing = [str(path.relative_to(ROOT)) for path in _resources()
               if not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)]
    assert missing == []


def _fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    Path(command[command.index("--target") + 1]).mkdir(parents=True)
    return subprocess.CompletedProcess(command, 0, "", "")


def test_the_lambda_asset_renders_the_report_from_its_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the Lambda asset staged from this tree (wheels stubbed: Jinja2 comes from the venv)
    monkeypatch.setattr(subprocess, "run", _fake_pip)
    asset = stage_lambda_asset(ROOT, tmp_path / "staging").path
    monkeypatch.undo()
    for path in _resources():
        assert (asset / path.relative_to(ROOT)).is_file(), path
    # When a Python started in the asset renders a report and a capacity page
    script = (
        "import json, stresslab.outputs.report as r, stresslab.outputs.capacity_report as c;"
        "html = r.render_report_html({'scenario': 'smoke', 'notes': ['<b>x</b>']}, []);"
        "cap = c.render_capacity_html({'scenario': 'cap', 'steps': []});"
        "print(json.dumps([r.__file__, 'svg.chart{' in html, '&lt;b&gt;x' in html,"
        " 'body.capacity{' in cap]))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=asset, capture_output=True,
                            text=True, check=False, env={"PYTHONPATH": str(asset)})
    # Then it used the asset's modules, templates and stylesheet
    assert result.returncode == 0, result.stderr
    module, styled, escaped, capacity_styled = json.loads(result.stdout)
    assert Path(module).is_relative_to(asset)
    assert styled and escaped and capacity_styled
