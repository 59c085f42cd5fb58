"""The API key of an HTTP target, kept in Secrets Manager: checked by the reference target's
authorizer, sent by the load generators. Only the secret's ARN travels; never the key."""

from __future__ import annotations

import hmac
from typing import Any

# The header the reference target's API authorises on (its authorizer's identity source).
API_KEY_HEADER = "x-api-key"
# Load generators may read only secrets carrying this tag (value "true").
TARGET_KEY_TAG = "stresslab:target-key"


def read_key(secrets: Any, secret_id: str) -> str:
    return str(secrets.get_secret_value(SecretId=secret_id)["SecretString"])


def target_headers(secrets: Any, secret_id: str | None) -> dict[str, str]:
    """The headers a load generator adds to every request to the target."""
    if not secret_id:
        return {}
    return {API_KEY_HEADER: read_key(secrets, secret_id)}


def key_matches(expected: str, headers: dict[str, str] | None) -> bool:
    """Whether a request's headers carry the key (constant-time; header names any case)."""
    offered = next(
        (value for name, value in (headers or {}).items() if name.lower() == API_KEY_HEADER), ""
    )
    return bool(expected) and hmac.compare_digest(offered.encode(), expected.encode())
