"""Small helpers to read botocore errors without scattering string compares."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_throttle(error: ClientError) -> bool:
    return error_code(error) in {
        "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
        "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException",
    } or http_status(error) == 429
