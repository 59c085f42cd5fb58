"""This machine for the bench scripts: one line describing it, and a free loopback port."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path


def describe_machine(*tools: str) -> str:
    """Cores, CPU model, Python, the given tool versions (e.g. "Chromium 131"), and the OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{os.cpu_count()} cores ({cpu})", f"Python {platform.python_version()}", *tools,
             f"{platform.system()} {platform.release()}"]
    return ", ".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
