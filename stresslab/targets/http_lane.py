"""The HTTP target's task-free path: a request written when a connection is free, told by callback.

A request on the awaitable path costs a task, a future, a timeout context and three coroutine
frames; at tens of thousands of requests a second that is a large share of a worker's CPU.
Here a request is one small object: the connection's parser callbacks finish it, and the freed
connection takes the next waiting request at once. Every request of a lane has the same timeout,
so deadlines come in the order requests were submitted: one alarm, set for the oldest
unfinished request's deadline, times them all out (a timer each costs more than the rest of
the request's bookkeeping on uvloop).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from stresslab.ports import OUTCOME_TIMEOUT, Outcome

Answered = Callable[[Outcome], None]


class _Connection(Protocol):
    """What a lane needs of one keep-alive connection (targets/http.py's)."""

    exchange: Exchange | None
    transport: asyncio.Transport
    closed: bool
    reusable: bool

    def abort(self) -> None: ...


class _Pool(Protocol):
    """What a lane needs of the connection pool (targets/http.py's)."""

    def take_idle(self) -> _Connection | None: ...
    def release(self, connection: Any) -> None: ...  # its own connections only
    def reserve(self) -> bool: ...
    async def open_reserved(self) -> _Connection: ...
COMPACT_AT = 65_536  # deadline entries behind a request that hangs, before they are swept


class Exchange:
    """One request: waiting for a connection, then in flight on it, then finished once."""

    __slots__ = ("_lane", "_data", "_done", "deadline", "connection", "finished")

    def __init__(self, lane: Lane, data: bytes, done: Answered, deadline: float) -> None:
        self._lane = lane
        self._data = data
        self._done = done
        self.deadline = deadline
        self.connection: _Connection | None = None
        self.finished = False

    def _finish(self) -> Answered:
        """Mark it finished and let go of what it held (it may wait in the deadline queue)."""
        self.finished = True
        done, self._done = self._done, _nobody
        self._data = b""
        self.connection = None
        return done

    def start(self, connection: _Connection) -> None:
        self.connection = connection
        connection.exchange = self
        try:
            connection.transport.write(self._data)
        except Exception as error:  # noqa: BLE001 - a transport closed under us: that request fails
            connection.exchange = None
            self.failed(error)

    def answered(self, status: int, body: bytes) -> None:
        """The whole answer came (called by the connection's parser)."""
        connection = self.connection
        assert connection is not None
        done = self._finish()
        lane = self._lane
        lane.recycle(connection)
        outcome = lane.judge(status, body)
        try:  # lane.tell, written out: every answer comes this way
            done(outcome)
        except Exception as error:  # noqa: BLE001 - the connections must go on serving
            lane.told_badly(error)

    def failed(self, error: Exception) -> None:
        """The connection failed under this request (dropped, malformed or oversized answer)."""
        connection = self.connection
        assert connection is not None
        done = self._finish()
        connection.abort()
        lane = self._lane
        lane.recycle(connection)
        lane.tell(done, lane.failure(error))

    def refuse(self, outcome: Outcome) -> None:
        """No connection could be opened for this request."""
        self._lane.tell(self._finish(), outcome)

    def drop(self) -> None:
        """The target closes with this request still unfinished: nobody is told."""
        self._finish()

    def expire(self) -> None:
        """Its deadline passed before it finished."""
        connection = self.connection
        done = self._finish()
        lane = self._lane
        if connection is not None:  # in flight: the connection cannot be trusted any more
            connection.exchange = None
            connection.abort()
            lane.recycle(connection)
        # a request still waiting for a connection stays in that queue, finished, skipped there
        lane.tell(done, Outcome(OUTCOME_TIMEOUT, delivered=connection is not None))


def _nobody(outcome: Outcome) -> None:
    """What a finished request tells: nothing (it was told once already)."""


class Lane:
    """Requests over one pool without a task each; the pool is this lane's alone."""

    def __init__(
        self, pool: _Pool, head: bytes, render: Callable[[Mapping[str, Any]], bytes],
        timeout: float, judge: Callable[[int, bytes], Outcome],
        failure: Callable[[Exception], Outcome],
    ) -> None:
        self._pool = pool
        self._head = head
        self._render = render
        self._timeout = timeout
        self.judge = judge
        self.failure = failure
        self._waiting: deque[Exchange] = deque()  # for a connection
        self._deadlines: deque[Exchange] = deque()  # every unfinished one, oldest first
        self._alarm: asyncio.TimerHandle | None = None
        self._compact_at = COMPACT_AT
        self._connecting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def submit(self, payload: Mapping[str, Any], done: Answered) -> None:
        """Send `payload`; `done` is called once with its Outcome, later (from inside submit
        only if writing to a transport closed under us fails at once)."""
        body = self._render(payload)
        data = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
        loop = self._loop or self.loop
        exchange = Exchange(self, data, done, loop.time() + self._timeout)
        deadlines = self._deadlines
        while deadlines and deadlines[0].finished:  # answered in order, mostly: kept short
            deadlines.popleft()
        deadlines.append(exchange)
        if len(deadlines) > self._compact_at:
            self._sweep()
        if self._alarm is None:
            self._alarm = loop.call_at(exchange.deadline, self._on_alarm)
        connection = self._pool.take_idle()
        if connection is not None:
            exchange.start(connection)
        else:
            self._waiting.append(exchange)
            self._grow()

    def recycle(self, connection: _Connection) -> None:
        """A connection whose request finished: to the next waiting request, or to the pool."""
        if connection.closed or not connection.reusable:
            self._pool.release(connection)  # aborts it and frees its slot
            self._grow()
            return
        exchange = self._next()
        if exchange is None:
            self._pool.release(connection)
        else:
            exchange.start(connection)

    def tell(self, done: Answered, outcome: Outcome) -> None:
        try:
            done(outcome)
        except Exception as error:  # noqa: BLE001 - the connections must go on serving
            self.told_badly(error)

    def told_badly(self, error: Exception) -> None:
        self.loop.call_exception_handler(
            {"message": "an HTTP answer's callback failed", "exception": error}
        )

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        for exchange in self._deadlines:
            exchange.drop()
        self._deadlines.clear()
        self._waiting.clear()

    def _sweep(self) -> None:
        """Drop the finished entries kept behind one that hangs (a target that never answers
        some requests): memory stays bounded by what is unfinished, not by rate x timeout."""
        self._deadlines = deque(e for e in self._deadlines if not e.finished)
        self._compact_at = max(COMPACT_AT, 2 * len(self._deadlines))

    def _on_alarm(self) -> None:
        """Time out every request whose deadline has passed; set the alarm for the next."""
        self._alarm = None
        deadlines = self._deadlines
        now = self.loop.time()
        while deadlines:
            exchange = deadlines[0]
            if exchange.finished:
                deadlines.popleft()
            elif exchange.deadline <= now:
                deadlines.popleft()
                exchange.expire()
            else:
                self._alarm = self.loop.call_at(exchange.deadline, self._on_alarm)
                return

    def _next(self) -> Exchange | None:
        waiting = self._waiting
        while waiting:
            exchange = waiting.popleft()
            if not exchange.finished:
                return exchange
        return None

    def _grow(self) -> None:
        """One more connection while requests wait for one and the pool's limit allows."""
        if self._waiting and self._connecting < len(self._waiting) and self._pool.reserve():
            self._connecting += 1
            task = self.loop.create_task(self._connect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        try:
            connection = await self._pool.open_reserved()
        except OSError:
            failure = Outcome("connect", delivered=False)
        except Exception:  # noqa: BLE001 - counted against the request that waited for it
            failure = Outcome("other", delivered=False)
        else:
            self._connecting -= 1
            self.recycle(connection)
            return
        self._connecting -= 1
        exchange = self._next()
        if exchange is not None:
            exchange.refuse(failure)
        self._grow()
