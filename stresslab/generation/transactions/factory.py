"""The transaction factory: one shard's labelled stream, episodes interleaved to follow the mix."""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect
from itertools import accumulate
from typing import Any

from stresslab.generation.transactions.edge import EDGE_EPISODES
from stresslab.generation.transactions.episode import EpisodeBuilder, EpisodeRegistry
from stresslab.generation.transactions.fraud import FRAUD_EPISODES
from stresslab.generation.transactions.model import (
    PAYLOAD_SCHEMA,
    Category,
    GeneratedTransaction,
    Label,
)
from stresslab.generation.transactions.world import Draft, ShardWorld
from stresslab.scenario.mix import TransactionMix

_CATEGORIES: tuple[Category, ...] = ("legit", "fraud", "edge")
_CATEGORY_INDEX: dict[str, int] = {name: i for i, name in enumerate(_CATEGORIES)}
_PULL_PENDING = 0.75  # chance a draw continues a pending episode instead of opening one


class _EpisodeDraw:
    """A weighted draw over one category's registry: which pattern opens the next episode."""

    def __init__(self, category: Category, registry: EpisodeRegistry) -> None:
        is_fraud = category == "fraud"
        self._choices: list[tuple[Label, EpisodeBuilder]] = [
            (Label(category, pattern, is_fraud), builder)
            for pattern, (_, builder) in registry.items()
        ]
        self._cum = list(accumulate(weight for weight, _ in registry.values()))

    def pick(self, rng: random.Random) -> tuple[Label, EpisodeBuilder]:
        return self._choices[bisect(self._cum, rng.random() * self._cum[-1])]


class TransactionFactory:
    """Generates one shard's labelled transaction stream, deterministic per (seed, shard).

    Fraud and multi-transaction edge cases are episodes: their transactions go into a
    queue with a latest slot each and are interleaved with other traffic. Each slot
    draws a category from the mix; when a queued transaction has to go out anyway, the
    category it displaced is repaid on a later slot, so the realised transaction shares
    follow the mix rather than the episode counts.
    """

    def __init__(
        self, run_id: str, seed: int, shard: int, mix: TransactionMix | None = None
    ) -> None:
        if not run_id or "/" in run_id:
            raise ValueError(f"run_id must be non-empty and contain no '/', got {run_id!r}")
        if shard < 0:
            raise ValueError(f"shard must be >= 0, got {shard}")
        self._run_id = run_id
        self._shard = shard
        self._mix = mix or TransactionMix()
        self._mix_cum = [self._mix.legit, self._mix.legit + self._mix.fraud]
        self._rng = random.Random(f"stresslab/transactions/v1/{seed}/{shard}")
        self._world = ShardWorld(self._rng, shard, legit_allowed=self._mix.legit > 0)
        self._episode_draws = {  # by category index; legit traffic is routine spend
            _CATEGORY_INDEX["fraud"]: _EpisodeDraw("fraud", FRAUD_EPISODES),
            _CATEGORY_INDEX["edge"]: _EpisodeDraw("edge", EDGE_EPISODES),
        }
        self._seq = 0
        self._surplus = [0, 0, 0]
        self._pending: tuple[list[tuple[int, int, Draft]], ...] = ([], [], [])
        self._pushed = 0
        self._second = -1
        self._prefix = ""
        self._id_prefix = f"{run_id}/{shard}/"

    def next(self, timestamp: float) -> GeneratedTransaction:
        """The next transaction, stamped with ``timestamp`` (epoch seconds, intended send time)."""
        seq = self._seq
        self._seq = seq + 1
        self._world.now = timestamp
        drawn = bisect(self._mix_cum, self._rng.random())
        surplus = self._surplus
        draft = self._pop_overdue(seq)
        if draft is None:
            wanted = drawn if surplus[drawn] <= 0 else min(range(3), key=surplus.__getitem__)
            # routine spend, most requests: without _fresh's call
            draft = self._world.routine_payment() if wanted == 0 else self._fresh(wanted, seq)
        surplus[drawn] -= 1
        surplus[_CATEGORY_INDEX[draft.label.category]] += 1
        return self._render(draft, seq, timestamp)

    def _pop_overdue(self, seq: int) -> Draft | None:
        due: list[tuple[int, int, Draft]] | None = None
        for queue in self._pending:
            if queue and queue[0][0] <= seq and (due is None or queue[0] < due[0]):
                due = queue
        return heapq.heappop(due)[2] if due is not None else None

    def _fresh(self, category: int, seq: int) -> Draft:
        if category == 0:
            return self._world.routine_payment()
        queue = self._pending[category]
        if queue and self._rng.random() < _PULL_PENDING:
            return heapq.heappop(queue)[2]
        label, build = self._episode_draws[category].pick(self._rng)
        episode = build(self._world, label)
        for offset, draft in episode[1:]:
            self._pushed += 1
            heapq.heappush(
                self._pending[_CATEGORY_INDEX[draft.label.category]],
                (seq + offset, self._pushed, draft),
            )
        return episode[0][1]

    def _render(self, draft: Draft, seq: int, timestamp: float) -> GeneratedTransaction:
        transaction_id = f"{self._id_prefix}{seq}"
        money = draft.merchant.money
        minor = draft.amount_minor
        second, millis = divmod(round(timestamp * 1000), 1000)
        if second == self._second:
            prefix = self._prefix
        else:
            prefix = self._prefix = self._iso_second(second)
        # card, merchant, device and location are the world's own dicts, not copies: a
        # payload is only read (encoded, mapped, signed), and copying four dicts per request
        # cost about a tenth of generating it
        payload: dict[str, Any] = {
            "schema": PAYLOAD_SCHEMA,
            "transaction_id": transaction_id,
            "timestamp": f"{prefix}.{millis:03d}Z",
            "amount": minor if money.scale == 1 else minor / money.scale,
            "amount_minor": minor,
            "currency": money.currency.code,
            "card": draft.card,
            "account_id": draft.account_id,
            "merchant": draft.merchant.payload,
            "channel": draft.channel,
            "device": draft.device,
            "location": draft.location,
        }
        return GeneratedTransaction(
            transaction_id, payload, draft.label, round(minor * money.usd_per_minor, 4)
        )

    def _iso_second(self, second: int) -> str:
        """The timestamp up to its whole second, kept while the stream is in that second."""
        self._second = second
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
