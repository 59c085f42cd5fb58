"""$connect refuses viewers beyond the live view's connection cap (the aggregator pushes to
each connection, so an unbounded audience would slow it); a closed one frees its place."""

from __future__ import annotations

import pytest

from lambdas import ws_connect, ws_disconnect

from .sfn_harness import FakeContext
from .test_websocket import Pool, connect_event, connections, pool, viewer_token
from .world import World, reset_handlers

__all__ = ["pool"]  # the Cognito pool fixture ws connect needs


def test_connections_beyond_the_cap_are_refused_until_one_closes(
    aws: World, pool: Pool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a cap of 3 live connections and 3 viewers connected
    monkeypatch.setenv("MAX_CONNECTIONS", "3")
    reset_handlers()
    token = viewer_token()
    for i in range(3):
        answer = ws_connect.handler(connect_event(f"c-{i}", {"token": token}), FakeContext())
        assert answer["statusCode"] == 200

    # When a fourth connects
    refused = ws_connect.handler(connect_event("c-3", {"token": token}), FakeContext())

    # Then it is refused with a clear reason and not registered
    assert refused["statusCode"] == 429
    assert refused["body"] == "live view is full: 3 live connections already open"
    assert set(connections(aws)) == {"c-0", "c-1", "c-2"}

    # And once a viewer leaves, the next one gets its place
    ws_disconnect.handler({"requestContext": {"connectionId": "c-0"}}, FakeContext())
    again = ws_connect.handler(connect_event("c-3", {"token": token}), FakeContext())
    assert again["statusCode"] == 200 and set(connections(aws)) == {"c-1", "c-2", "c-3"}
