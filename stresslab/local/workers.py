"""The worker processes of a local run: spawn them, collect their batches, replace the dead."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import orjson

from stresslab.generation.plan import ArrivalSchedule, WorkAssignment
from stresslab.local.worker_process import (
    INVALID,
    READY,
    REFUSED,
    RESUMED,
    resume_assignments,
    worker_main,
)

MAX_ATTEMPTS = 3  # a shard's first process and up to two replacements
PUMP_WAIT_S = 0.1


@dataclass
class Segment:
    """A stretch [start_s, end_s) of one shard's arrivals that one worker id answers for."""

    worker_id: str
    shard: int
    start_s: int
    end_s: int
    attempt: int
    dead: bool = False


@dataclass
class WorkerDeath:
    """A worker process that exited with an error or was killed before its shard was done."""

    shard: int
    attempt: int
    exitcode: int | None
    at_s: float
    resumed_from_s: int | None = None
    replacement_ids: list[str] = field(default_factory=list)
    not_replaced: str | None = None

    def how(self) -> str:
        code = self.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


@dataclass
class WorkerAccount:
    """What the pool's deaths mean for the summary."""

    failed: list[str]
    notes: list[str]
    unreported: int
    replaced_all: bool


@dataclass
class _Slot:
    """One shard: its planned assignments and the process now running them."""

    shard: int
    planned: list[WorkAssignment]
    process: BaseProcess = field(init=False)
    attempt: int = 0
    handled: bool = False
    deaths: list[WorkerDeath] = field(default_factory=list)


class WorkerPool:
    """One process per shard, each with its own pipe; a process that dies mid-run is replaced
    (with a new attempt, from the next whole second) up to MAX_ATTEMPTS times per shard."""

    def __init__(
        self, context: SpawnContext, assignments: list[WorkAssignment], spec_json: str, url: str,
        stop: Event, start_at: Synchronized[float], on_batch: Callable[[str], None],
        on_refused: Callable[[str], None] = lambda line: None,
        on_invalid: Callable[[int, list[str]], None] = lambda count, samples: None,
        owner_urls: tuple[str, ...] = (),
    ) -> None:
        self._context = context
        self._owner_urls = owner_urls  # the reference service's processes: route by card
        self._on_refused = on_refused
        self._on_invalid = on_invalid
        self._spec_json = spec_json
        self._url = url
        self._stop = stop
        self._start_at = start_at
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._readers: dict[Connection, tuple[_Slot, int]] = {}  # pipe: (slot, attempt)
        self._segments: list[Segment] = []
        self._closing = threading.Event()
        self.ready = 0
        shards = sorted({a.shard for a in assignments})
        self._slots: list[_Slot] = []
        for shard in shards:
            mine = [a for a in assignments if a.shard == shard]
            self._segments += [Segment(a.worker_id, shard, a.start_s, a.end_s, 0) for a in mine]
            slot = _Slot(shard, mine)
            self._slots.append(slot)
            self._spawn(slot)

    @property
    def shards(self) -> int:
        return len(self._slots)

    @property
    def pids(self) -> list[int]:
        return [slot.process.pid for slot in self._slots if slot.process.pid]

    @property
    def worker_ids(self) -> list[str]:
        """The planned worker ids (not their replacements)."""
        return [a.worker_id for slot in self._slots for a in slot.planned]

    def _spawn(self, slot: _Slot) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        suffix = f"-a{slot.attempt}" if slot.attempt else ""
        process = self._context.Process(
            target=worker_main,
            args=([a.model_dump_json() for a in slot.planned], self._spec_json, self._url,
                  writer, self._stop, self._start_at, slot.attempt, self._owner_urls),
            name=f"stresslab-worker-{slot.shard}{suffix}",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only write end, so its exit is EOF here
        slot.process, slot.handled = process, False
        with self._lock:
            self._readers[reader] = (slot, slot.attempt)

    @property
    def deaths(self) -> list[WorkerDeath]:
        return [death for slot in self._slots for death in slot.deaths]

    def all_running(self) -> bool:
        return all(slot.process.is_alive() for slot in self._slots)

    def alive(self) -> bool:
        """Some process runs, or one has exited and `check` has not looked at it yet."""
        return any(slot.process.is_alive() or not slot.handled for slot in self._slots)

    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._segments)

    def check(self, elapsed_s: float) -> list[WorkerDeath]:
        """Notice processes that have exited; replace those that died with arrivals to come."""
        deaths = []
        for slot in self._slots:
            if slot.handled or slot.process.is_alive():
                continue
            slot.handled = True
            code = slot.process.exitcode
            if code == 0 or self._stop.is_set():
                continue
            death = WorkerDeath(slot.shard, slot.attempt, code, round(elapsed_s, 3))
            slot.deaths.append(death)
            deaths.append(death)
            with self._lock:
                for segment in self._segments:
                    if segment.shard == slot.shard and segment.attempt == slot.attempt:
                        segment.dead = True
            self._replace(slot, death, elapsed_s)
        return deaths

    def _replace(self, slot: _Slot, death: WorkerDeath, elapsed_s: float) -> None:
        if slot.attempt + 1 >= MAX_ATTEMPTS:
            death.not_replaced = f"{MAX_ATTEMPTS} processes have died for this shard"
            return
        if math.floor(elapsed_s) + 1 >= max(a.end_s for a in slot.planned):
            death.not_replaced = "its arrivals were over"
            return
        slot.attempt += 1
        self._spawn(slot)

    def pump(self) -> None:
        """Thread: move every message to `on_batch` until closed and every pipe has ended."""
        while True:
            with self._lock:
                readers = list(self._readers)
            if not readers:
                if self._closing.is_set():
                    return
                time.sleep(PUMP_WAIT_S / 5)
                continue
            for reader in wait(readers, timeout=PUMP_WAIT_S):
                assert isinstance(reader, Connection)
                try:
                    data = reader.recv_bytes()
                except (EOFError, OSError):  # exited, or killed halfway through a message
                    with self._lock:
                        del self._readers[reader]
                    reader.close()
                    continue
                self._receive(reader, data)

    def _receive(self, reader: Connection, data: bytes) -> None:
        if data == READY:
            self.ready += 1
        elif data.startswith(RESUMED):
            with self._lock:
                slot, attempt = self._readers[reader]
            self._resumed(slot, attempt, int(data[len(RESUMED):]))
        elif data.startswith(REFUSED):
            self._on_refused(data[len(REFUSED):].decode(errors="replace"))
        elif data.startswith(INVALID):
            report = orjson.loads(data[len(INVALID):])
            self._on_invalid(int(report["count"]), [str(text) for text in report["samples"]])
        else:
            self._on_batch(data.decode())

    def _resumed(self, slot: _Slot, attempt: int, first_s: int) -> None:
        """A replacement runs the shard from first_s; earlier attempts answer for the rest."""
        resumed = resume_assignments(slot.planned, first_s, attempt)
        with self._lock:
            for segment in self._segments:
                if segment.shard == slot.shard and segment.attempt < attempt:
                    segment.end_s = min(segment.end_s, first_s)
            self._segments += [
                Segment(a.worker_id, slot.shard, a.start_s, a.end_s, attempt) for a in resumed
            ]
        for death in slot.deaths:
            if death.attempt == attempt - 1:
                death.resumed_from_s = first_s
                death.replacement_ids = [a.worker_id for a in resumed]

    def close(self, timeout_s: float = 30.0) -> None:
        """No more replacements; wait for the processes (killing stragglers) to exit."""
        self._closing.set()
        deadline = time.monotonic() + timeout_s
        for slot in self._slots:
            slot.process.join(timeout=max(deadline - time.monotonic(), 0.1))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)

    def ended_cleanly(self) -> bool:
        return all(slot.process.exitcode == 0 for slot in self._slots)

    def account(
        self, finished: set[str], scheduled: Mapping[str, int], schedule: ArrivalSchedule,
    ) -> WorkerAccount:
        """Failed worker ids, and for each death the arrivals its worker never reported.

        A dead worker answers for its shard's arrivals up to where its replacement resumed
        (or to the end of its assignment if none did); those it did not report in a batch
        are unaccounted for: some may have been sent, and reached the target, before it died.
        """
        failed, notes, unreported_total = [], [], 0
        shards = max((a.shards for slot in self._slots for a in slot.planned), default=1)
        segments = self.segments()
        for slot in self._slots:
            for death in slot.deaths:
                mine = [s for s in segments if s.shard == slot.shard
                        and s.attempt == death.attempt and s.worker_id not in finished]
                unreported = sum(
                    schedule.count(s.start_s, s.end_s, s.shard, shards)
                    - scheduled.get(s.worker_id, 0)
                    for s in mine
                )
                unreported_total += unreported
                failed += [s.worker_id for s in mine]
                notes.append(_death_note(death, [s.worker_id for s in mine], unreported))
        replaced_all = all(not slot.deaths or slot.deaths[-1].attempt < slot.attempt
                           for slot in self._slots)
        return WorkerAccount(failed, notes, unreported_total, replaced_all)


def _death_note(death: WorkerDeath, ids: list[str], unreported: int) -> str:
    who = ", ".join(ids) or f"shard {death.shard}"
    note = (f"worker {who} (shard {death.shard}) died at {death.at_s:g} s ({death.how()}): "
            f"{unreported} of its arrivals were never reported (any it had sent reached "
            "the target uncounted)")
    if death.resumed_from_s is not None:
        successors = ", ".join(death.replacement_ids) or "a new worker"
        return note + f"; the shard resumed as {successors} from {death.resumed_from_s} s"
    if death.not_replaced:
        return note + f"; not replaced: {death.not_replaced}"
    return note + "; its replacement never started"
