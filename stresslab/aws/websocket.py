"""WebSocket logic: who may connect (viewer token or operator JWT), and answers to browsers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from stresslab.aws.cognito_jwt import InvalidToken, VerifiedToken
from stresslab.aws.planning import WEBSOCKET_FRAME_LIMIT
from stresslab.measurement.live import (
    Pong,
    ServerError,
    Snapshot,
    describe_run,
    parse_client_message,
)
from stresslab.measurement.live_feed import (
    SNAPSHOT_OLDER_TICKS,
    SNAPSHOT_RECENT_S,
    LiveFeed,
    thin_history,
)
from stresslab.scenario.spec import ScenarioSpec

VIEWER = "viewer"
OPERATOR = "operator"


class Unauthorized(PermissionError):
    """The connection offered no valid credential."""


class TokenVerifier(Protocol):
    def verify(self, token: str) -> VerifiedToken: ...


class ViewerTokenVerifier(Protocol):
    def __call__(self, token: str) -> Any:
        """Raises InvalidToken unless the viewer link's token is valid and unexpired."""


def authorize_connection(
    query: dict[str, str] | None, viewer_token: ViewerTokenVerifier,
    verifier: TokenVerifier | None,
) -> str:
    """The connection's role: 'operator' for a Cognito JWT of the operators group, 'viewer' for
    any other valid JWT or a viewer link's signed token. Browsers cannot set headers on a
    WebSocket, so both travel in the query string (?token=... or ?jwt=...)."""
    query = query or {}
    jwt = query.get("jwt")
    if jwt:
        if verifier is None:
            raise Unauthorized("operator sign-in is not configured")
        try:
            verified = verifier.verify(jwt)
        except InvalidToken as error:
            raise Unauthorized(str(error)) from None
        return OPERATOR if verified.is_operator else VIEWER
    token = query.get("token")
    if token:
        try:
            viewer_token(token)
        except InvalidToken as error:
            raise Unauthorized(str(error)) from None
        return VIEWER
    raise Unauthorized("no credential: pass ?token= or ?jwt=")


class RunLookup(Protocol):
    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]: ...

    def get_run(self, run_id: str) -> dict[str, Any]: ...


def error_message(text: str) -> str:
    return ServerError(message=text).to_json()


def answer_client(body: str | None, runs: RunLookup,
                  replay: Callable[[str], LiveFeed] | None = None) -> tuple[bool, str]:
    """(accepted, reply) for a browser message: pong, a fresh snapshot, or a one-line error.
    The snapshot holds the current run's past seconds when `replay` rebuilds them."""
    try:
        message = parse_client_message(body or "")
    except ValueError as error:
        return False, error_message(str(error))
    if message.type == "ping":
        return True, Pong().to_json()
    recent = runs.list_runs(limit=20)
    current = next((r for r in recent if r["status"] == "running"), recent[0] if recent else None)
    if current is None:
        return True, Snapshot(run=None, runs=recent).to_json()
    if replay is not None:
        return True, snapshot_within_frame(replay(current["run_id"]).snapshot(recent))
    run = runs.get_run(current["run_id"])
    live = describe_run(
        ScenarioSpec.model_validate(run["spec"]), run["run_id"], run["started_at"],
        run["status"], run["target"], run["plan"]["expected_per_second"],
    )
    return True, Snapshot(run=live, runs=recent).to_json()


def snapshot_within_frame(snapshot: Snapshot, limit: int = WEBSOCKET_FRAME_LIMIT) -> str:
    """The snapshot as one WebSocket frame: its history thinned further (the latest seconds
    kept) until the frame fits, and dropped only when even one tick would not."""
    text, recent, older = snapshot.to_json(), SNAPSHOT_RECENT_S, SNAPSHOT_OLDER_TICKS
    while len(text.encode()) > limit and snapshot.history:
        recent, older = recent // 2, older // 2
        history = thin_history(snapshot.history, recent, max(older, 1)) if recent else []
        snapshot = snapshot.model_copy(update={"history": history})
        text = snapshot.to_json()
    return text
