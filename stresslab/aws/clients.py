"""boto3 clients with one retry and timeout policy, created once per Lambda container."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10,
    max_pool_connections=32,
)


@cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, config=CONFIG, endpoint_url=endpoint_url)
