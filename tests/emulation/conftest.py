"""One emulated AWS for this folder's tests (booting it synthesizes the app: about half a
minute); it is gone, with its patches of moto and the environment, before other folders run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NGINX_CONF, Nginx, free_port, serve_nginx

from .system import AwsLocal


@pytest.fixture(scope="package")
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


@pytest.fixture
def wide_nginx(tmp_path: Path) -> Iterator[Nginx]:
    """tests/conftest.py's nginx with room for twenty generators' connections (1,024 is less
    than they open when the machine is busy, and a refused connection never reaches it)."""
    port = free_port()
    config = NGINX_CONF.format(root=tmp_path, port=port).replace(
        "worker_connections 1024;", "worker_connections 16384;").replace(
        "worker_processes 1;", "worker_processes 1;\nworker_rlimit_nofile 40000;")
    yield from serve_nginx(tmp_path, port, config)
