"""Fixtures for the AWS runtime tests: a moto account, handler settings, a scoring server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.kinesis.models import Shard

from .world import REGION, ScoreServer, World, build_world, reset_handlers, serve_scores

MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


_PUT_LOCK = threading.Lock()
_SHARD_PUT = Shard.put_record


def _serialised_put(self: Shard, *args: Any, **kwargs: Any) -> str:
    with _PUT_LOCK:
        return _SHARD_PUT(self, *args, **kwargs)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "stresslab-test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    # moto's Shard.put_record says "not safe for concurrency" (two threads can take the same
    # sequence number and one record is lost); several generators put at once here, as in AWS.
    monkeypatch.setattr(Shard, "put_record", _serialised_put)
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        world = build_world()
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        reset_handlers()
        yield world
    reset_handlers()


@pytest.fixture
def score_server() -> Iterator[ScoreServer]:
    yield from serve_scores()


@pytest.fixture(autouse=True)
def _quiet_moto_interpreter() -> Iterator[None]:
    """moto's interpreter logs every caught task error with its whole parse tree."""
    import logging

    logger = logging.getLogger("moto.stepfunctions")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Handlers run concurrently in one process here (one per shard), sharing Powertools'
    # module-level Metrics: one flush can take another invocation's metrics, and the other
    # then warns it has none. In Lambda each invocation has its own process.
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:No application metrics to publish:UserWarning"))
