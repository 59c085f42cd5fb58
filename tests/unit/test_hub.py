"""The broadcast hub with fake viewers: slow ones are dropped, floods are cut, nobody waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from stresslab.local.hub import BroadcastHub, HubLimits

pytestmark = pytest.mark.timeout(10)


class FakeSocket:
    """A viewer: records what it is sent; a stalled one never finishes receiving anything."""

    def __init__(self, stalled: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._stalled = stalled
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()

    async def send_str(self, data: str) -> None:
        if self._stalled:
            await asyncio.Event().wait()
        self.sent.append(data)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = (code, message.decode())
        self._incoming.put_nowait(None)
        return True

    def say(self, text: str) -> None:
        self._incoming.put_nowait(text)

    def hang_up(self) -> None:
        self._incoming.put_nowait(None)

    async def messages(self) -> AsyncIterator[str]:
        while (text := await self._incoming.get()) is not None:
            yield text

    def decoded(self) -> list[dict]:
        return [json.loads(text) for text in self.sent]


class State:
    """What the snapshot is built from; counts how often it was built."""

    def __init__(self) -> None:
        self.history: list[int] = []
        self.built = 0

    def snapshot(self) -> str:
        self.built += 1
        return json.dumps({"type": "snapshot", "history": list(self.history)})


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def connect(hub: BroadcastHub, socket: FakeSocket) -> asyncio.Task[None]:
    task = asyncio.create_task(hub.serve(socket, socket.messages()))
    await settle()
    return task


def tick(n: int) -> str:
    return json.dumps({"type": "tick", "second": n})


async def test_a_viewer_gets_the_snapshot_first_then_every_broadcast_in_order():
    state = State()
    hub = BroadcastHub(state.snapshot)
    viewer = FakeSocket()
    await connect(hub, viewer)
    for n in range(5):
        hub.publish(tick(n))
    await settle()
    messages = viewer.decoded()
    assert messages[0] == {"type": "snapshot", "history": []}
    assert [m["second"] for m in messages[1:]] == [0, 1, 2, 3, 4]


async def test_a_late_joiner_gets_the_history_so_far_and_nothing_twice():
    # Given a run that has published three ticks (the state holds them)
    state = State()
    hub = BroadcastHub(state.snapshot)
    early = FakeSocket()
    await connect(hub, early)
    for n in range(3):
        state.history.append(n)
        hub.publish(tick(n))
    await settle()
    # When a viewer joins late and the run goes on
    late = FakeSocket()
    await connect(hub, late)
    state.history.append(3)
    hub.publish(tick(3))
    await settle()
    # Then its snapshot holds 0..2 and only tick 3 follows
    first, *rest = late.decoded()
    assert first["history"] == [0, 1, 2]
    assert [m["second"] for m in rest] == [3]
    assert [m["second"] for m in early.decoded()[1:]] == [0, 1, 2, 3]


async def test_a_slow_viewer_is_dropped_while_the_others_keep_receiving():
    # Given two viewers that read and one that never finishes reading
    hub = BroadcastHub(State().snapshot, HubLimits(queue_size=8))
    fast = [FakeSocket(), FakeSocket()]
    slow = FakeSocket(stalled=True)
    for socket in (*fast, slow):
        await connect(hub, socket)
    # When many more messages are published than a queue holds
    for n in range(50):
        hub.publish(tick(n))  # synchronous: it cannot wait for anyone
        await asyncio.sleep(0)
    await settle()
    # Then the slow one was closed with 1013 and a reason, the others got everything
    assert slow.closed is not None and slow.closed[0] == 1013
    assert "too slow" in slow.closed[1]
    for socket in fast:
        assert [m["second"] for m in socket.decoded()[1:]] == list(range(50))
        assert socket.closed is None
    assert hub.viewers == 2 and hub.dropped_slow == 1


async def test_a_flooding_viewer_is_cut_off_and_cannot_stall_the_others():
    # Given a frozen clock (all messages fall in the same second) and two viewers
    hub = BroadcastHub(State().snapshot, HubLimits(max_messages_per_s=20), clock=lambda: 5.0)
    flooder, other = FakeSocket(), FakeSocket()
    session = await connect(hub, flooder)
    await connect(hub, other)
    # When one sends 500 pings at once while the run keeps broadcasting
    for _ in range(500):
        flooder.say('{"type": "ping"}')
    for n in range(10):
        hub.publish(tick(n))
        await asyncio.sleep(0)
    await settle()
    # Then it is closed with 1008 after at most 20 answers, and the other missed nothing
    assert flooder.closed is not None and flooder.closed[0] == 1008
    pongs = [m for m in flooder.decoded() if m["type"] == "pong"]
    assert len(pongs) <= 20
    assert [m["second"] for m in other.decoded()[1:]] == list(range(10))
    assert other.closed is None and hub.viewers == 1
    await asyncio.wait_for(session, 1)


async def test_the_rate_limit_is_per_second_so_a_steady_viewer_is_never_cut():
    now = [0.0]
    hub = BroadcastHub(State().snapshot, HubLimits(max_messages_per_s=3), clock=lambda: now[0])
    viewer = FakeSocket()
    await connect(hub, viewer)
    for second in range(5):
        now[0] = float(second)
        for _ in range(3):
            viewer.say('{"type": "ping"}')
        await settle()
    assert viewer.closed is None
    assert sum(m["type"] == "pong" for m in viewer.decoded()) == 15


@pytest.mark.parametrize("text, error", [
    ("hello", "message is not JSON"),
    ('{"type": "subscribe"}', "type: Input should be 'ping' or 'resync'"),
    ('{"type": "ping", "extra": 1}', "extra: Extra inputs are not permitted"),
    ("[1, 2]", "Input should be a valid dictionary"),
])
async def test_malformed_messages_get_a_one_line_error_and_change_nothing(text, error):
    state = State()
    hub = BroadcastHub(state.snapshot)
    viewer, other = FakeSocket(), FakeSocket()
    await connect(hub, viewer)
    await connect(hub, other)
    viewer.say(text)
    await settle()
    reply = viewer.decoded()[-1]
    assert reply["type"] == "error" and error in reply["message"]
    assert "\n" not in reply["message"]
    assert viewer.closed is None and hub.viewers == 2
    assert len(other.sent) == 1  # the others saw nothing of it


class FakeTime:
    """A clock the test moves, and sleeps that end only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.asleep: list[tuple[float, asyncio.Event]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.Event()
        self.asleep.append((seconds, woken))
        await woken.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for _, woken in self.asleep:
            woken.set()
        self.asleep.clear()


async def test_ping_gets_pong_and_resync_gets_a_fresh_snapshot():
    state, time = State(), FakeTime()
    hub = BroadcastHub(state.snapshot, HubLimits(resync_interval_s=3), clock=time.clock)
    viewer = FakeSocket()
    await connect(hub, viewer)
    state.history.append(7)
    hub.publish(tick(7))
    time.advance(3)
    viewer.say('{"type": "ping"}')
    viewer.say('{"type": "resync"}')
    await settle()
    assert [m["type"] for m in viewer.decoded()] == ["snapshot", "tick", "pong", "snapshot"]
    assert viewer.decoded()[-1]["history"] == [7]


async def test_a_burst_of_resyncs_is_answered_once_when_the_interval_is_over():
    # Given a viewer that had its snapshot a second ago
    state, time = State(), FakeTime()
    hub = BroadcastHub(state.snapshot, HubLimits(resync_interval_s=3, max_messages_per_s=20),
                       clock=time.clock, sleep=time.sleep)
    viewer = FakeSocket()
    await connect(hub, viewer)
    time.now = 1.0
    # When it asks for the full state ten times at once
    for _ in range(10):
        viewer.say('{"type": "resync"}')
    await settle()
    # Then nothing is built or sent yet: one answer waits for the rest of the interval
    assert [wait for wait, _ in time.asleep] == [2.0]
    assert len(viewer.sent) == 1 and state.built == 1 and hub.resyncs_coalesced == 9
    # And when the interval is over, exactly one fresh snapshot goes out
    state.history.append(1)
    hub.publish(tick(1))
    time.advance(2)
    await settle()
    assert [m["type"] for m in viewer.decoded()] == ["snapshot", "tick", "snapshot"]
    assert viewer.decoded()[-1]["history"] == [1] and state.built == 2
    # And the next resync right away waits again
    viewer.say('{"type": "resync"}')
    await settle()
    assert len(viewer.sent) == 3 and [wait for wait, _ in time.asleep] == [3.0]


async def test_a_pending_resync_dies_with_its_viewer():
    state, time = State(), FakeTime()
    hub = BroadcastHub(state.snapshot, HubLimits(resync_interval_s=3), clock=time.clock,
                       sleep=time.sleep)
    viewer = FakeSocket()
    session = await connect(hub, viewer)
    viewer.say('{"type": "resync"}')
    viewer.hang_up()
    await asyncio.wait_for(session, 1)
    time.advance(3)
    await settle()
    assert len(viewer.sent) == 1 and state.built == 1


async def test_viewers_from_one_address_are_capped_the_others_still_join():
    hub = BroadcastHub(State().snapshot, HubLimits(max_viewers_per_address=2))
    for _ in range(2):
        await connect_from(hub, FakeSocket(), "10.0.0.1")
    greedy = FakeSocket()
    await connect_from(hub, greedy, "10.0.0.1")
    assert greedy.closed is not None and greedy.closed[0] == 1013
    assert "from your address" in greedy.closed[1] and greedy.sent == []
    other = FakeSocket()
    await connect_from(hub, other, "10.0.0.2")
    assert other.closed is None and hub.viewers == 3


async def connect_from(hub: BroadcastHub, socket: FakeSocket, address: str) -> None:
    asyncio.create_task(hub.serve(socket, socket.messages(), address))
    await settle()


async def test_the_snapshot_is_built_once_per_change_however_many_viewers_join():
    state = State()
    hub = BroadcastHub(state.snapshot)
    for _ in range(5):
        await connect(hub, FakeSocket())
    assert state.built == 1
    hub.publish(tick(0))
    await connect(hub, FakeSocket())
    assert state.built == 2


async def test_a_viewer_that_hangs_up_is_forgotten():
    hub = BroadcastHub(State().snapshot)
    viewer = FakeSocket()
    session = await connect(hub, viewer)
    viewer.hang_up()
    await asyncio.wait_for(session, 1)
    hub.publish(tick(0))
    assert hub.viewers == 0 and len(viewer.sent) == 1


async def test_viewers_beyond_the_limit_are_turned_away_and_close_says_goodbye():
    hub = BroadcastHub(State().snapshot, HubLimits(max_viewers=2))
    admitted = [FakeSocket(), FakeSocket()]
    for socket in admitted:
        await connect(hub, socket)
    turned_away = FakeSocket()
    await connect(hub, turned_away)
    assert turned_away.closed is not None and turned_away.closed[0] == 1013
    assert turned_away.sent == [] and hub.viewers == 2
    await hub.close()
    assert [s.closed[0] for s in admitted if s.closed] == [1001, 1001]
    assert hub.viewers == 0
