"""Serving until stopped: the reference service as one process, or as several (cluster.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator

import uvloop

from reference_service.binding import admin_host_names, is_loopback, refuse_remote, shown_host
from reference_service.cluster import (
    BoundSockets,
    ClusterRole,
    MemberAdmins,
    MemberBrief,
    SharedTraffic,
    bind_sockets,
    loopback_of,
    spawn_member,
)
from reference_service.config import TargetConfig
from reference_service.scoring_http import ScoringServer
from reference_service.service import (
    ADMIN_START_TIMEOUT_S,
    AdminGuard,
    AdminThread,
    RunningTarget,
    admin_app,
    new_state,
    start_target,
)


@contextlib.asynccontextmanager
async def serve_member(
    config: TargetConfig, token: str, role: ClusterRole, shared: socket.socket,
    own: socket.socket, admin_sock: socket.socket,
) -> AsyncIterator[None]:
    """Process `role.index` of several: scoring on the shared and its own socket, the admin
    API (process 0's fan-out reaches it there) on its own thread."""
    state = new_state(config, role)
    scoring = ScoringServer(state)
    admin: AdminThread | None = None
    try:
        await scoring.serve_on((shared, own))
        guard = AdminGuard(token, set())
        admin = AdminThread(admin_app(state, guard), "127.0.0.1", 0, admin_sock)
        guard.allow(admin_host_names("127.0.0.1"), await asyncio.to_thread(admin.start))
        yield
    finally:
        await scoring.stop()
        if admin is not None:
            await asyncio.to_thread(admin.stop)


def serve(
    host: str, port: int, config: TargetConfig | None = None, *, admin_port: int = 0,
    allow_remote: bool = False, processes: int = 1, process_ports: tuple[int, ...] = (),
) -> int:
    """Serve until SIGINT or SIGTERM; prints the URL line once listening. The exit status:
    1 if one of several processes died (its counts with it), else 0."""
    return uvloop.run(_serve_until_stopped(host, port, config, admin_port, allow_remote,
                                           processes, process_ports))


async def _start_processes(
    host: str, port: int, config: TargetConfig, admin_port: int, processes: int,
    process_ports: tuple[int, ...],
) -> tuple[RunningTarget, list[asyncio.subprocess.Process], BoundSockets]:
    sockets = bind_sockets(host, port, processes, process_ports)
    near = shown_host(loopback_of(host))
    score_urls = [f"http://{near}:{own}/v1/score" for own in sockets.own_ports]
    token = config.admin_token or secrets.token_urlsafe(24)
    config = config.model_copy(update={"admin_token": token})
    members: list[asyncio.subprocess.Process] = []
    traffic_fd = SharedTraffic.create_fd(processes)
    try:
        for index in range(1, processes):
            seed = None if config.seed is None else config.seed + index
            brief = MemberBrief(
                index=index, host=host, score_urls=score_urls, token=token,
                config=config.model_copy(update={"seed": seed}).model_dump(mode="json"),
                shared_fd=sockets.shared[index].fileno(), own_fd=sockets.own[index].fileno(),
                admin_fd=sockets.member_admin[index - 1].fileno(), traffic_fd=traffic_fd)
            members.append(await spawn_member(brief))
        admin_urls = [f"http://127.0.0.1:{sock.getsockname()[1]}"
                      for sock in sockets.member_admin]
        target = await start_target(
            host, port, config, admin_port=admin_port, allow_remote=True,
            sockets=(sockets.shared[0], sockets.own[0]),
            cluster=ClusterRole(0, tuple(score_urls), SharedTraffic(traffic_fd, 0, processes)),
            members=MemberAdmins(admin_urls, token))
    except BaseException:
        await _stop_members(members)
        sockets.close()
        raise
    finally:
        os.close(traffic_fd)  # each process keeps its own mapping
    return target, members, sockets


async def _stop_members(members: list[asyncio.subprocess.Process]) -> None:
    for member in members:
        if member.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                member.terminate()
    for member in members:
        try:
            await asyncio.wait_for(member.wait(), ADMIN_START_TIMEOUT_S)
        except TimeoutError:
            member.kill()
            await member.wait()


async def _serve_until_stopped(
    host: str, port: int, config: TargetConfig | None, admin_port: int, allow_remote: bool,
    processes: int = 1, process_ports: tuple[int, ...] = (),
) -> int:
    members: list[asyncio.subprocess.Process] = []
    sockets: BoundSockets | None = None
    if processes > 1:
        refuse_remote(host, allow_remote)
        target, members, sockets = await _start_processes(
            host, port, config or TargetConfig(), admin_port, processes, process_ports)
    else:
        target = await start_target(host, port, config, admin_port=admin_port,
                                    allow_remote=allow_remote)
    if not is_loopback(host):
        print(f"WARNING: the reference service listens on {host}, reachable from the network; "
              "its admin API takes faults from anyone holding the token, over plain HTTP",
              file=sys.stderr, flush=True)
    print(f"stresslab target listening on {target.url} admin on {target.admin_url}", flush=True)
    if config is None or config.admin_token is None:
        print(f"stresslab target admin token: {target.admin_token}", flush=True)
    # after the token line, which clients read right after the first
    own_urls = ([f"{target.url.rsplit(':', 1)[0]}:{own}" for own in sockets.own_ports]
                if sockets is not None else [target.url])
    print(f"stresslab target processes: {' '.join(own_urls)}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    died: list[str] = []

    async def watch(index: int, member: asyncio.subprocess.Process) -> None:
        code = await member.wait()
        died.append(f"process {index} of the service exited ({code}); its counts are lost")
        stopping.set()

    watchers = [loop.create_task(watch(i, m)) for i, m in enumerate(members, start=1)]
    try:
        await stopping.wait()
    finally:
        for watcher in watchers:
            watcher.cancel()
        await target.stop()
        await _stop_members(members)
        if sockets is not None:
            sockets.close()
    if died:
        print(f"stresslab target stopped: {died[0]}", file=sys.stderr, flush=True)
        return 1
    return 0
