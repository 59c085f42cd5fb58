"""Shared fixtures: free ports and a real nginx serving a fixed decision on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /v1/score {{
            default_type application/json;
            return 200 '{{"decision": "approve"}}';
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    url: str
    access_log: Path

    def requests_received(self) -> int:
        return sum(1 for _ in self.access_log.open()) if self.access_log.exists() else 0

    def requests_logged(self, expected: int, within_s: float = 5.0) -> int:
        """The count once it reaches `expected` (or `within_s` passes): nginx writes a
        request's log line after sending its answer, so the last one may not be there yet."""
        deadline = time.monotonic() + within_s
        while (received := self.requests_received()) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return received


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A plain nginx (not ours) that answers every POST with a decision and logs each request."""
    port = free_port()
    yield from serve_nginx(tmp_path, port, NGINX_CONF.format(root=tmp_path, port=port))


def serve_nginx(tmp_path: Path, port: int, config: str) -> Iterator[Nginx]:
    """nginx with this configuration (listening on port) until the generator is closed."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(config)
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"nginx did not start: {process.stderr.read()!r}") from None
            time.sleep(0.05)
    yield Nginx(f"http://127.0.0.1:{port}/v1/score", tmp_path / "access.log")
    process.terminate()
    process.wait(timeout=10)
