"""WebSocket broadcast hub: each viewer has its own bounded queue; publishing waits for nobody."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import WSMsgType, web

from stresslab.measurement.live import Pong, ServerError, parse_client_message

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013
MAX_CLIENT_MESSAGE = 4096


class ViewerSocket(Protocol):
    """The part of a WebSocket the hub uses (aiohttp's WebSocketResponse is one)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(frozen=True)
class HubLimits:
    queue_size: int = 512
    max_messages_per_s: int = 5  # a dashboard pings every 10 s and resyncs on a new run
    max_viewers: int = 256
    max_viewers_per_address: int = 16
    # A snapshot is the whole run so far: one per viewer this often at most, however asked.
    resync_interval_s: float = 3.0
    close_timeout_s: float = 2.0


@dataclass(eq=False)
class _Viewer:
    socket: ViewerSocket
    queue: asyncio.Queue[str]
    address: str = ""
    sender: asyncio.Task[None] | None = None
    snapshot_at: float = 0.0
    resync: asyncio.Task[None] | None = None
    gone: bool = False
    window_start: float = 0.0
    in_window: int = 0
    closing: asyncio.Task[None] | None = field(default=None, repr=False)


class BroadcastHub:
    """Fans dashboard messages out to every viewer; a slow viewer is dropped, never waited for."""

    def __init__(
        self,
        snapshot: Callable[[], str],
        limits: HubLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._snapshot_of = snapshot
        self._snapshot: str | None = None
        self.limits = limits or HubLimits()
        self._clock = clock
        self._sleep = sleep
        self._viewers: set[_Viewer] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.dropped_slow = 0
        self.dropped_flooding = 0
        self.snapshots_built = 0
        self.resyncs_coalesced = 0

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def publish(self, message: str) -> None:
        """Queue a message for every viewer; synchronous, so it can never wait for one."""
        self._snapshot = None  # the state changed: the next snapshot is built afresh
        for viewer in list(self._viewers):
            self._offer(viewer, message)

    def snapshot(self) -> str:
        """The current state, built once per change however many viewers ask for it."""
        if self._snapshot is None:
            self._snapshot = self._snapshot_of()
            self.snapshots_built += 1
        return self._snapshot

    async def serve(
        self, socket: ViewerSocket, incoming: AsyncIterator[str | bytes], address: str = "",
    ) -> None:
        """One viewer's whole session: the snapshot first, then broadcasts and its replies."""
        if len(self._viewers) >= self.limits.max_viewers:
            await self._close(socket, CLOSE_TRY_LATER, "too many viewers, try again later")
            return
        if sum(v.address == address for v in self._viewers) >= \
                self.limits.max_viewers_per_address:
            await self._close(socket, CLOSE_TRY_LATER,
                              f"too many viewers from your address (at most "
                              f"{self.limits.max_viewers_per_address}), try again later")
            return
        now = self._clock()
        viewer = _Viewer(socket, asyncio.Queue(self.limits.queue_size), address=address,
                         window_start=now, snapshot_at=now)
        # Registering and queueing the snapshot with no await between: nothing published
        # later can come before it, and nothing published earlier is missing from it.
        self._viewers.add(viewer)
        viewer.queue.put_nowait(self.snapshot())
        viewer.sender = asyncio.create_task(self._send_loop(viewer))
        try:
            async for text in incoming:
                if viewer.gone:
                    break
                if self._flooding(viewer):
                    self.dropped_flooding += 1
                    self._drop(viewer, CLOSE_POLICY, "too many messages: at most "
                               f"{self.limits.max_messages_per_s} a second")
                    break
                self._answer(viewer, text)
        finally:
            self._leave(viewer)
            if viewer.closing is not None:
                await asyncio.shield(viewer.closing)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for GET /ws."""
        # No per-message deflate: compressing every snapshot for every viewer would cost the
        # event loop that aggregates the run; on loopback the bytes are free.
        socket = web.WebSocketResponse(max_msg_size=MAX_CLIENT_MESSAGE, heartbeat=30.0,
                                       compress=False)
        await socket.prepare(request)
        await self.serve(socket, _texts(socket), request.remote or "")
        if not socket.closed:
            await self._close(socket, CLOSE_GOING_AWAY, "bye")
        return socket

    async def close(self) -> None:
        """Say goodbye to every viewer (server shutting down)."""
        for viewer in list(self._viewers):
            self._drop(viewer, CLOSE_GOING_AWAY, "server shutting down")
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _offer(self, viewer: _Viewer, message: str) -> None:
        try:
            viewer.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped_slow += 1
            self._drop(viewer, CLOSE_TRY_LATER,
                       f"too slow: {self.limits.queue_size} messages behind, reconnect")

    def _flooding(self, viewer: _Viewer) -> bool:
        now = self._clock()
        if now - viewer.window_start >= 1.0:
            viewer.window_start, viewer.in_window = now, 0
        viewer.in_window += 1
        return viewer.in_window > self.limits.max_messages_per_s

    def _answer(self, viewer: _Viewer, text: str | bytes) -> None:
        try:
            message = parse_client_message(text, MAX_CLIENT_MESSAGE)
        except ValueError as error:
            self._offer(viewer, ServerError(message=str(error)).to_json())
            return
        if message.type == "ping":
            self._offer(viewer, Pong().to_json())
        else:
            self._resync(viewer)

    def _resync(self, viewer: _Viewer) -> None:
        """A fresh snapshot now if the last is old enough, else one later for the whole burst."""
        if viewer.resync is not None:
            self.resyncs_coalesced += 1
            return
        wait = viewer.snapshot_at + self.limits.resync_interval_s - self._clock()
        if wait <= 0:
            self._send_snapshot(viewer)
        else:
            viewer.resync = asyncio.get_running_loop().create_task(
                self._resync_later(viewer, wait))

    async def _resync_later(self, viewer: _Viewer, wait: float) -> None:
        await self._sleep(wait)
        viewer.resync = None
        if not viewer.gone:
            self._send_snapshot(viewer)

    def _send_snapshot(self, viewer: _Viewer) -> None:
        viewer.snapshot_at = self._clock()
        self._offer(viewer, self.snapshot())

    async def _send_loop(self, viewer: _Viewer) -> None:
        try:
            while True:
                message = await viewer.queue.get()
                await viewer.socket.send_str(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a broken socket ends this viewer only
            self._leave(viewer)

    def _leave(self, viewer: _Viewer) -> None:
        viewer.gone = True
        self._viewers.discard(viewer)
        for task in (viewer.sender, viewer.resync):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    def _drop(self, viewer: _Viewer, code: int, reason: str) -> None:
        if viewer.gone:
            return
        self._leave(viewer)
        log.info("dropping a viewer (%s): %s", code, reason)
        task = asyncio.get_running_loop().create_task(self._close(viewer.socket, code, reason))
        viewer.closing = task
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, socket: ViewerSocket, code: int, reason: str) -> None:
        # A stuck peer cannot hold us: aiohttp drops the connection when the close is cancelled.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(code=code, message=reason.encode()),
                                   self.limits.close_timeout_s)


async def _texts(socket: web.WebSocketResponse) -> AsyncIterator[str | bytes]:
    async for message in socket:
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            yield message.data
        else:
            return
