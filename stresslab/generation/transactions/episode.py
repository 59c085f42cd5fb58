"""Episodes: how their transactions are spaced in the stream, and the registry of builders."""

from __future__ import annotations

import random
from collections.abc import Callable

from stresslab.generation.transactions.model import Label
from stresslab.generation.transactions.world import Draft, Episode, ShardWorld


def gaps(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    """Offsets of ``count`` transactions, the first at 0, then ``low..high`` slots apart."""
    offsets = [0]
    for _ in range(count - 1):
        offsets.append(offsets[-1] + rng.randint(low, high))
    return offsets


def spaced(rng: random.Random, drafts: list[Draft], low: int, high: int) -> Episode:
    """The drafts in order, ``low..high`` slots apart."""
    return list(zip(gaps(rng, len(drafts), low, high), drafts, strict=True))


EpisodeBuilder = Callable[[ShardWorld, Label], Episode]
# pattern: (relative weight, builder). The order is part of the stream: the factory's
# weighted draw picks by position, so a new pattern goes last (and changes the stream).
EpisodeRegistry = dict[str, tuple[int, EpisodeBuilder]]
