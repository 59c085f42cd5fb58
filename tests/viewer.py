"""A dashboard on the WebSocket for tests: keeps every message it is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Message = dict[str, Any]


class Viewer:
    """A dashboard on the WebSocket: keeps every message it is sent."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.messages: list[Message] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            self.messages.append(json.loads(message.data))
            self._arrived.set()

    async def wait_for(self, matches: Callable[[Message], bool], timeout: float = 30) -> Message:
        async def seek() -> Message:
            seen = 0
            while True:
                for message in self.messages[seen:]:
                    if matches(message):
                        return message
                seen = len(self.messages)
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(seek(), timeout)

    def seconds(self, run_id: str) -> list[int]:
        """The run's seconds as a dashboard holds them: a snapshot's history, then ticks."""
        held: list[int] = []
        for message in self.messages:
            if message["type"] == "snapshot" and (message["run"] or {}).get("run_id") == run_id:
                held = [tick["second"] for tick in message["history"]]
            elif message["type"] == "tick" and message["run_id"] == run_id:
                held.append(message["second"])
        return held

    def tick(self, run_id: str, second: int) -> Message:
        return next(m for m in self.messages
                    if m["type"] == "tick" and m["run_id"] == run_id and m["second"] == second)

    def ticks(self) -> list[Message]:
        return [m for m in self.messages if m["type"] == "tick"]

    async def close(self) -> None:
        await self.socket.close()
        await self._reader
