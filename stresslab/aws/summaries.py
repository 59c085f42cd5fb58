"""A run's summary.json read from the AWS results bucket, for `stresslab compare s3://...`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from stresslab.aws.clients import client as aws_client


def summary_location(url: str) -> tuple[str, str]:
    """s3://bucket/prefix/RUN (a run's folder) or s3://bucket/key.json → (bucket, key);
    ValueError, one line, when it is not an s3:// URL naming a bucket and a key."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key.strip("/"):
        raise ValueError(f"{url!r}: expected s3://bucket/prefix/RUN_ID or "
                         "s3://bucket/path/summary.json")
    if not key.endswith(".json"):
        key = key.rstrip("/") + "/summary.json"
    return parts.netloc, key


def fetch_summary(url: str, s3: Any | None = None) -> bytes:
    """The bytes of the summary.json that `url` names; ValueError, one line, when it cannot be
    read (no such bucket or key, no permission, no credentials)."""
    bucket, key = summary_location(url)
    s3 = s3 or aws_client("s3")
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ValueError(f"{url}: cannot read s3://{bucket}/{key} ({code})") from None
    except BotoCoreError as error:
        raise ValueError(f"{url}: cannot read s3://{bucket}/{key} ({error})") from None
