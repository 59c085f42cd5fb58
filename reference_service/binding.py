"""Where the service may listen, and which Host names its admin API answers to."""

from __future__ import annotations

import ipaddress
import socket

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


class RemoteBindRefused(ValueError):
    """A non-loopback address without allow_remote: the admin API would face the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shown_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def admin_host_names(host: str) -> set[str]:
    """Names a client may put in Host for a service bound to `host` (never a foreign name)."""
    names = {shown_host(host)}
    if is_loopback(host) or host in WILDCARDS:
        names |= {"127.0.0.1", "localhost", "[::1]"}
    if host in WILDCARDS:
        names.add(socket.gethostname())
    return names


def refuse_remote(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise RemoteBindRefused(
            f"--host {host}: not a loopback address; the admin API would face the network "
            "(add --allow-remote if that is really meant)")
