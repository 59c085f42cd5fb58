"""`make test` and `make demo` install the Debian packages they need, once, or say how."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _make(*args: str, user: str | None = None,
          root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-C", str(root), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("goal", ["test", "demo", "test-fast", "site"])
def test_every_entry_point_installs_system_packages_first(goal: str) -> None:
    # Given the Makefile, When make is asked what it would do, Then the system step comes first
    dry = _make("-n", goal)
    assert dry.returncode == 0, dry.stderr
    assert "apt-get install" in dry.stdout


def test_nothing_is_installed_when_everything_is_there() -> None:
    # Given nginx, Chromium and npm present (this suite uses them), When make system runs
    done = _make("system")
    # Then it installs nothing and says nothing
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to drop to another user")
def test_without_root_a_missing_package_is_one_line_with_the_command() -> None:
    # Given a package that is missing, When a user without root runs make system
    # (on a copy of the Makefile that user can read, wherever the clone lives)
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        shutil.copy(ROOT / "Makefile", folder)
        done = _make("system", "SYSTEM_PACKAGES=no-such-package:/nonexistent/tool",
                     user="65534", root=Path(folder))
    # Then it fails with one line that says which package and the command to run
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("stresslab:")]
    assert lines == ["stresslab: needs Debian packages: no-such-package; "
                     "run: sudo apt-get install -y no-such-package"]
