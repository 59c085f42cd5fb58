"""ApiGatewayBroadcaster: PostToConnection to open WebSockets (capped, before a deadline);
a gone one is removed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from stresslab.aws.errors import error_code, http_status

logger = logging.getLogger(__name__)


# The most connections one push reaches; ws connect refuses beyond it (MAX_CONNECTIONS).
MAX_CONNECTIONS = 500


class ConnectionRegistry(Protocol):
    def connections(self, limit: int | None = None) -> list[tuple[str, str]]: ...

    def delete_connection(self, connection_id: str) -> None: ...


@dataclass
class BroadcastResult:
    sent: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0


class ApiGatewayBroadcaster:
    """Sends one text message to each connection (optionally only some roles), to at most
    max_connections of them, and none once the deadline (clock() time) has passed."""

    def __init__(
        self, client: Any, registry: ConnectionRegistry, threads: int = 16,
        max_connections: int = MAX_CONNECTIONS, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._registry = registry
        self._threads = threads
        self._max_connections = max_connections
        self._clock = clock

    def send(self, connection_id: str, message: str) -> str:
        """'sent', 'gone' (and the connection is forgotten) or 'failed'."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=message.encode())
        except ClientError as error:
            if error_code(error) == "GoneException" or http_status(error) == 410:
                self._registry.delete_connection(connection_id)
                return "gone"
            logger.warning("post_to_connection %s failed: %s", connection_id, error)
            return "failed"
        except BotoCoreError as error:
            logger.warning("post_to_connection %s failed: %s", connection_id, error)
            return "failed"
        return "sent"

    def broadcast(
        self, message: str, roles: frozenset[str] | None = None, deadline: float | None = None,
    ) -> BroadcastResult:
        connections = self._registry.connections(limit=self._max_connections)
        targets = [c for c, role in connections if roles is None or role in roles]
        result = BroadcastResult()
        if not targets:
            return result

        def send_in_time(connection_id: str) -> str:
            if deadline is not None and self._clock() >= deadline:
                return "skipped"
            return self.send(connection_id, message)

        with ThreadPoolExecutor(max_workers=min(self._threads, len(targets))) as pool:
            for connection_id, outcome in zip(
                targets, pool.map(send_in_time, targets), strict=True
            ):
                if outcome == "sent":
                    result.sent += 1
                elif outcome == "gone":
                    result.gone.append(connection_id)
                elif outcome == "skipped":
                    result.skipped += 1
                else:
                    result.failed.append(connection_id)
        return result
