"""Planning: the exact arrival schedule of a run, split into waves x shards."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from stresslab.scenario.profiles import LoadProfile
from stresslab.scenario.spec import FaultSpec, ScenarioSpec

SLICE_S = 0.01
MAX_WAVE_S = 600.0


class ArrivalSchedule:
    """Arrival k happens when the integral of rate(t) reaches k + 0.5.

    The integral is taken by the midpoint rule on a fixed 10 ms grid, so every worker
    of every wave computes the very same arrivals and the same total.
    """

    def __init__(self, profile: LoadProfile, slice_s: float = SLICE_S) -> None:
        self._profile = profile
        self._slice = slice_s
        self._slices_per_second = round(1.0 / slice_s)
        cumulative = array("d", [0.0])
        total = 0.0
        for second in range(math.ceil(profile.duration)):
            for index in range(self._slices_per_second):
                total += self._slice_rate(second, index) * slice_s
            cumulative.append(total)
        self._cumulative = cumulative
        self.duration = profile.duration

    def _slice_rate(self, second: int, index: int) -> float:
        return self._profile.rate(second + (index + 0.5) * self._slice)

    def expected(self, second: int) -> float:
        """Expected arrivals in [second, second + 1)."""
        if second < 0 or second + 1 >= len(self._cumulative):
            return 0.0
        return self._cumulative[second + 1] - self._cumulative[second]

    def cumulative(self, second: int) -> float:
        second = min(max(second, 0), len(self._cumulative) - 1)
        return self._cumulative[second]

    def total(self, shard: int = 0, shards: int = 1) -> int:
        return self.count(0, math.ceil(self.duration), shard, shards)

    def count(self, start_s: int, end_s: int, shard: int = 0, shards: int = 1) -> int:
        """Arrivals with start_s <= t < end_s that belong to the shard."""
        first = _first_index(self.cumulative(start_s))
        last = _first_index(self.cumulative(end_s))  # exclusive
        return _count_congruent(first, last, shard, shards)

    def arrivals(
        self, start_s: int, end_s: int, shard: int = 0, shards: int = 1
    ) -> Iterator[tuple[int, float]]:
        """(global index, seconds since run start) for the shard's arrivals in [start_s, end_s)."""
        slice_s = self._slice
        for second in range(max(start_s, 0), min(end_s, len(self._cumulative) - 1)):
            n_before = self._cumulative[second]
            if self._cumulative[second + 1] <= n_before:
                continue
            for index in range(self._slices_per_second):
                rate = self._slice_rate(second, index)
                n_after = n_before + rate * slice_s
                if rate <= 0:
                    continue
                t0 = second + index * slice_s
                k = _first_index(n_before)
                k += (shard - k) % shards
                while k + 0.5 < n_after:
                    yield k, t0 + (k + 0.5 - n_before) / (n_after - n_before) * slice_s
                    k += shards
                n_before = n_after


def _first_index(cumulative: float) -> int:
    """The first k with k + 0.5 >= cumulative, i.e. arrivals before that point: k."""
    return max(0, math.ceil(cumulative - 0.5))


def _count_congruent(first: int, last: int, shard: int, shards: int) -> int:
    if last <= first:
        return 0
    start = first + (shard - first) % shards
    return 0 if start >= last else (last - 1 - start) // shards + 1


class Wave(BaseModel):
    """A slice of the run short enough for one Lambda invocation per shard."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    index: int
    start_s: int
    end_s: int


class WorkAssignment(BaseModel):
    """What one worker does: one shard of one wave, starting at an absolute time."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    run_id: str
    worker_id: str
    wave: int
    shard: int
    shards: int
    start_s: int
    end_s: int
    run_started_at: float = Field(description="epoch seconds of t = 0 of the run")


class Plan(BaseModel):
    """The run's waves, shards and fault timeline, and what it should send each second."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    run_id: str
    duration_s: float
    shards: int
    waves: list[Wave]
    expected_per_second: list[float]
    scheduled_total: int
    faults: list[FaultSpec]

    def assignments(self, run_started_at: float) -> list[WorkAssignment]:
        return [
            WorkAssignment(
                run_id=self.run_id,
                worker_id=f"w{wave.index}-s{shard}",
                wave=wave.index,
                shard=shard,
                shards=self.shards,
                start_s=wave.start_s,
                end_s=wave.end_s,
                run_started_at=run_started_at,
            )
            for wave in self.waves
            for shard in range(self.shards)
        ]


def plan_run(
    spec: ScenarioSpec, run_id: str, shards: int | None = None, max_wave_s: float = MAX_WAVE_S
) -> Plan:
    """Split the scenario into waves of at most max_wave_s and shards that share arrivals."""
    schedule = ArrivalSchedule(spec.profile())
    seconds = math.ceil(spec.duration)
    wave_length = max(1, int(max_wave_s))
    waves = [
        Wave(index=i, start_s=start, end_s=min(start + wave_length, seconds))
        for i, start in enumerate(range(0, seconds, wave_length))
    ]
    return Plan(
        run_id=run_id,
        duration_s=spec.duration,
        shards=shards or spec.workers,
        waves=waves,
        expected_per_second=[schedule.expected(s) for s in range(seconds)],
        scheduled_total=schedule.total(),
        faults=sorted(spec.faults, key=lambda fault: fault.at),
    )
