"""One emulated AWS per test session (booting it synthesizes the app: about half a minute)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from .system import AwsLocal


@pytest.fixture(scope="session")
def aws_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsLocal]:
    with AwsLocal(Path(tmp_path_factory.mktemp("aws-local"))) as aws:
        yield aws


@pytest.fixture(autouse=True)
def _quiet_moto_interpreter() -> Iterator[None]:
    """moto's interpreter logs every caught task error with its whole parse tree."""
    logger = logging.getLogger("moto.stepfunctions")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every function shares this one process (and Powertools' module-level Metrics): one flush
    # can take another invocation's metrics, and the other then warns it has none.
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:No application metrics to publish:UserWarning"))
