"""ProcessMeter: the target's CPU and memory are those of all its processes, not process 0's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from stresslab.local.infra import ProcessMeter

# Process 0 sleeps; the process it starts holds 200 MB and spins, as a member of the service does.
PARENT = """
import subprocess, sys, time
CHILD = "b = bytearray(200 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n" \\
        "print('ready', flush=True)\\nwhile True: pass\\n"
child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), child.pid, flush=True)
child.wait()  # reaped, as process 0 of the service reaps its members
time.sleep(60)
"""


@pytest.fixture
def service() -> Iterator[tuple[int, int]]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    try:
        word, child_pid = parent.stdout.readline().split()
        assert word == "ready"
        yield parent.pid, int(child_pid)
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait()


def test_target_reading_sums_every_process_of_the_service(service: tuple[int, int]) -> None:
    # Given a service whose process 0 is idle and small, and whose other process is busy and big
    parent_pid, child_pid = service
    meter = ProcessMeter(parent_pid, [])
    # When it is sampled after a while
    time.sleep(0.6)
    target = meter.sample()["target"]
    # Then the reading holds the other process's memory and CPU as well
    child_rss_mb = psutil.Process(child_pid).memory_info().rss / 2**20
    assert child_rss_mb > 190
    assert target["pid"] == parent_pid
    assert target["processes"] == 2
    assert target["rss_mb"] >= child_rss_mb
    assert target["cpu_pct"] > 10  # the spinning process (near 100 on an idle core)


def test_target_reading_ignores_a_process_that_has_gone(service: tuple[int, int]) -> None:
    # Given a meter that has seen both processes
    parent_pid, child_pid = service
    meter = ProcessMeter(parent_pid, [])
    meter.sample()
    # When the other process ends
    child = psutil.Process(child_pid)
    child.kill()
    child.wait(5)
    target = meter.sample()["target"]
    # Then the target is process 0 alone, still readable
    assert target["processes"] == 1
    assert target["rss_mb"] is not None and target["rss_mb"] < 150
