"""ApiGatewayBroadcaster: PostToConnection to every open WebSocket; a gone one is removed."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from stresslab.aws.errors import error_code, http_status

logger = logging.getLogger(__name__)


class ConnectionRegistry(Protocol):
    def connections(self) -> list[tuple[str, str]]: ...

    def delete_connection(self, connection_id: str) -> None: ...


@dataclass
class BroadcastResult:
    sent: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class ApiGatewayBroadcaster:
    """Sends one text message to each connection (optionally only some roles)."""

    def __init__(self, client: Any, registry: ConnectionRegistry, threads: int = 16) -> None:
        self._client = client
        self._registry = registry
        self._threads = threads

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

    def broadcast(self, message: str, roles: frozenset[str] | None = None) -> BroadcastResult:
        targets = [c for c, role in self._registry.connections() if roles is None or role in roles]
        result = BroadcastResult()
        if not targets:
            return result
        with ThreadPoolExecutor(max_workers=min(self._threads, len(targets))) as pool:
            for connection_id, outcome in zip(
                targets, pool.map(lambda c: self.send(c, message), targets), strict=True
            ):
                if outcome == "sent":
                    result.sent += 1
                elif outcome == "gone":
                    result.gone.append(connection_id)
                else:
                    result.failed.append(connection_id)
        return result
