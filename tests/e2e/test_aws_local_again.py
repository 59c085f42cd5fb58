"""The emulated AWS starts again in the same process (as one pytest session does for each
folder or module that needs it): each start is a fresh account, not the last one's leftovers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.emulation.system import AwsLocal
from tests.emulation.template import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_second_emulation_in_the_same_process_starts_with_an_empty_account(
        tmp_path: Path) -> None:
    # Given an emulation that ran and stopped, leaving a bucket behind
    with AwsLocal(tmp_path / "first") as first:
        stack = first.stack
        first.client("s3").create_bucket(Bucket="left-behind")

    # When another starts in this process from the same synthesized app
    with AwsLocal(tmp_path / "second", stack=stack) as second:
        # Then it has the stack's resources, and nothing of the first's
        buckets = {b["Name"] for b in second.client("s3").list_buckets()["Buckets"]}
        assert "left-behind" not in buckets
        assert second.client("kinesis").list_streams()["StreamNames"]


def test_make_aws_local_prints_the_urls_and_a_sign_in_and_ctrl_c_stops_it_cleanly(
        tmp_path: Path) -> None:
    # Given `python -m tests.emulation` (what `make aws-local` runs) in a terminal's group
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulation", "--port", "0", "--workdir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 180
        while not any(line.startswith("  password") for line in printed):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(printed)
            printed.append(line)
        shown = dict(re.findall(r"^  (presentation|admin|username)\s+(\S+)", "".join(printed),
                                re.M))
        # Then it named the pages and an operator, and serves the presentation
        assert shown.keys() == {"presentation", "admin", "username"}, printed
        with urllib.request.urlopen(shown["presentation"], timeout=10) as page:
            assert b"Live presentation" in page.read()
        # When Ctrl-C reaches every process of the terminal's group
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)  # 60 s was too short at load ~9 in a CI check
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Then it stops, saying so, without a traceback
    assert "stresslab aws-local: stopping" in out
    assert process.returncode == 0 and "Traceback" not in err, err[-2000:]
