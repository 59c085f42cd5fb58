"""`pip install .` gives a working stresslab: a wheel built from the tree, installed into a fresh
venv, run from a directory outside the checkout, finds the scenarios and config it ships."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a source distribution of stresslab holds; copied so the build never writes into the
# shared checkout (build/, *.egg-info) and the installed venv cannot see the checkout.
SOURCES = ("pyproject.toml", "README.md", "stresslab", "reference_service", "scenarios", "config",
           "dashboard_site/dist")
SHIPPED = {"peak-load", "sustained", "burst", "failure-recovery", "investor-demo", "smoke"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def copy_sources(into: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source, target = ROOT / name, into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target)
    return into


def build_and_install(tmp_path: Path) -> Path:
    tree, wheels, venv = tmp_path / "tree", tmp_path / "wheels", tmp_path / "venv"
    copy_sources(tree)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(tree), "-w",
                    str(wheels)], check=True, cwd=tmp_path, timeout=240)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    wheel = next(wheels.glob("stresslab-*.whl"))
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=tmp_path, timeout=120)
    shutil.rmtree(tree)
    return venv


def installed_env() -> dict[str, str]:
    # The dependencies come from the test venv's site-packages; stresslab itself only from the
    # fresh venv (the test venv's editable install is a .pth file, which PYTHONPATH skips).
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return env


def test_a_wheel_installed_outside_the_checkout_lists_validates_and_runs(tmp_path):
    # Given stresslab built as a wheel and installed into a fresh venv
    venv = build_and_install(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = installed_env()

    def stresslab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin" / "stresslab"), *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=200)

    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import stresslab, reference_service; "
                            "print(stresslab.__file__); print(reference_service.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert all(Path(line).is_relative_to(venv) for line in where.stdout.split()), where.stdout
    data = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "from stresslab.local.server_settings import SITE_DIR; print(SITE_DIR)"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    site = Path(data.stdout.strip())
    assert site.is_relative_to(venv / "share" / "stresslab"), site
    if (ROOT / "dashboard_site" / "dist" / "index.html").is_file():
        assert (site / "index.html").is_file() and any((site / "assets").iterdir())

    # When it lists the scenarios from a directory outside the checkout
    listed = stresslab("scenarios")
    # Then it lists the shipped scenarios
    assert listed.returncode == 0, listed.stderr
    assert SHIPPED <= {line.split()[0] for line in listed.stdout.splitlines()}, listed.stdout

    # And a shipped scenario validates by name
    checked = stresslab("validate", "smoke")
    assert checked.returncode == 0 and "ok (smoke," in checked.stdout, checked.stderr

    # And a short run against the bundled reference service completes with its report
    out = elsewhere / "out"
    ran = stresslab("run", "smoke", "--duration", "2s", "--tps", "20", "--quiet", "--out",
                    str(out))
    assert ran.returncode in (0, 1), ran.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["scheduled"] == 40
    assert summary["counts"]["sent"] == summary["counts"]["ok"] > 0
    assert "business" in summary and (out / "report.html").read_text().count("<svg") >= 1
    assert ran.returncode == (0 if summary["passed"] else 1)
