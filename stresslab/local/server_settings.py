"""The local dashboard server's settings: where it listens, what it serves, its limits."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stresslab.local.hub import HubLimits
from stresslab.scenario.presentation import BENCHMARKS_FILE, PRESENTATION_DIR
from stresslab.scenario.spec import SCENARIOS_DIR

SITE_DIR = SCENARIOS_DIR.parent / "dashboard_site" / "dist"
PAGES = ("presentation", "analytics", "agents", "admin")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    db_path: Path = Path(".stresslab/runs.db")
    results_dir: Path = Path("results")
    site_dir: Path = SITE_DIR
    scenarios_dir: Path = SCENARIOS_DIR
    presentation_dir: Path = PRESENTATION_DIR
    benchmarks_file: Path = BENCHMARKS_FILE
    max_tps: float = 20_000
    max_duration_s: float = 7200
    hub_limits: HubLimits = field(default_factory=HubLimits)
    allowed_hosts: tuple[str, ...] = ()  # names besides loopback and `host` a browser may use
    # Idle keep-alive connections, and requests whose headers never end, are cut after this.
    keepalive_timeout_s: float = 15.0
    max_connections: int = 512
    # ${env:NAME} a run started over the API may read besides STRESSLAB_TARGET_*
    allowed_secrets: tuple[str, ...] = ()
    # An OTLP/HTTP metrics URL (…/v1/metrics): each run's live metrics are also exported there.
    otlp_endpoint: str | None = None

    def host_names(self) -> frozenset[str]:
        """The names this server answers to: the Host allow-list. Bound to every interface,
        that is this machine's name and each of its addresses."""
        names = {*LOOPBACK_NAMES, *self.allowed_hosts}
        if self.host in WILDCARD_HOSTS:
            names.add(socket.gethostname())
            names.update(address.address.split("%")[0]
                         for addresses in psutil.net_if_addrs().values()
                         for address in addresses
                         if address.family in (socket.AF_INET, socket.AF_INET6))
        else:
            names.add(self.host)
        return frozenset(name.lower().strip("[]") for name in names)

