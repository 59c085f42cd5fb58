"""A run's target when the bundled reference service runs as several processes: each
transaction goes straight to the process that holds its card's history.

Behind the service's shared port a process that does not own the card forwards it to the
owner, an extra hop that cost a third of each process (docs/performance.md); sent to the
owner's own port, the request is answered where it lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from reference_service.cluster import card_of, owner_of
from stresslab.ports import Outcome
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.http import HttpTarget


def split_connections(connections: int, owners: int) -> list[int]:
    """`connections` shared out between `owners` as evenly as can be, at least one each."""
    share, extra = divmod(connections, owners)
    return [max(1, share + (1 if index < extra else 0)) for index in range(owners)]


class CardRoutedTarget:
    """One HttpTarget per process of the service; `send` picks the card's owner.

    The scenario's http.connections are split between them; max_in_flight stays the worker's
    one limit over all of them. A payload without a card goes to the first process.
    """

    def __init__(self, owner_urls: Sequence[str], settings: HttpSettings) -> None:
        if len(owner_urls) < 2:
            raise ValueError("a card-routed target needs at least two owner URLs")
        shares = split_connections(settings.connections, len(owner_urls))
        self.targets = [
            HttpTarget(url, settings.model_copy(update={"connections": share}))
            for url, share in zip(owner_urls, shares, strict=True)
        ]
        self._owners = len(self.targets)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> CardRoutedTarget:
        for target in self.targets:
            await self._stack.enter_async_context(target)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def send(self, payload: dict[str, Any]) -> Outcome:
        card_id = card_of(payload)
        owner = 0 if card_id is None else owner_of(card_id, self._owners)
        return await self.targets[owner].send(payload)
