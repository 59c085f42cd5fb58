"""What a local run tells its viewers as it goes: events, notes, and one tick per closed second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stresslab.judgement.degradation import LevelChange
from stresslab.local.infra import ProcessMeter, TargetProbe
from stresslab.local.run_clock import RunClock
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import EventName
from stresslab.measurement.live_feed import LiveFeed
from stresslab.ports import Broadcaster


class LivePublisher:
    """Publishes the run's live messages; a viewer that misses one never stops the run."""

    def __init__(self, feed: LiveFeed, broadcaster: Broadcaster | None, clock: RunClock) -> None:
        self.feed = feed
        self._broadcaster = broadcaster
        self._clock = clock
        self.failures = 0
        self._next_second = 0
        self.meter: ProcessMeter | None = None  # set once the run goes live, if anyone watches
        self.probe: TargetProbe | None = None

    @property
    def watched(self) -> bool:
        return self._broadcaster is not None

    def send(self, message: str) -> None:
        if self._broadcaster is None:
            return
        try:
            self._broadcaster.publish(message)
        except Exception:  # noqa: BLE001 - viewers miss a message; the run goes on
            self.failures += 1

    def announce(self, name: EventName, at_s: float, **detail: Any) -> None:
        self.send(self.feed.event(name, max(at_s, 0.0), **detail).to_json())

    def announce_now(self, name: EventName, **detail: Any) -> None:
        self.announce(name, self._clock.elapsed(), **detail)

    def degradation_changed(self, change: LevelChange, applied: bool) -> None:
        event = self.feed.set_degradation(change.level, change.at_s, reason=change.reason,
                                          applied=applied)
        if event is not None:
            self.send(event.to_json())

    def publish_ticks(
        self, aggregator: RunAggregator, elapsed: float | None, planned_s: int,
        closed: Callable[[int, float], bool], active_faults: Callable[[int], list[str]],
    ) -> None:
        """Ticks for the seconds that have closed; elapsed None: every second seen (run over).
        The plan's last second holds the workers' drain (their final batches): it goes out once
        the run is over, with every batch in, so the last totals shown are the summary's."""
        if self._broadcaster is None:
            return
        last = max(aggregator.seconds, default=-1)
        while True:
            second = self._next_second
            if elapsed is None:
                if second > last:
                    return
            elif second >= planned_s - 1 or not closed(second, elapsed):
                return
            tick, events = self.feed.tick(
                aggregator, second, active_faults(second),
                infra=self.meter.sample() if self.meter else None,
                agent_load=self.probe.agents if self.probe else None,
            )
            if self._clock.started is not None:  # so a page can tell how late it drew the tick
                tick.window_end_epoch = round(self._clock.started + second + 1, 3)
            tick.published_epoch = round(self._clock.now(), 3)
            self.send(tick.to_json())
            for event in events:
                self.send(event.to_json())
            self._next_second += 1

    def failure_notes(self) -> list[str]:
        if not self.failures:
            return []
        return [f"{self.failures} live messages could not be published"]


class RunNotes:
    """Side work that did not go as planned: notes for the summary; trouble is also told live."""

    def __init__(self, publisher: LivePublisher) -> None:
        self._publisher = publisher
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def trouble(self, message: str) -> None:
        self.items.append(message)
        self._publisher.announce_now("run_note", message=message)
