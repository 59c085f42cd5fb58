"""The emulated AWS starts again in the same process (as one pytest session does for each
folder or module that needs it): each start is a fresh account, not the last one's leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulation.system import AwsLocal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_second_emulation_in_the_same_process_starts_with_an_empty_account(
        tmp_path: Path) -> None:
    # Given an emulation that ran and stopped, leaving a bucket behind
    with AwsLocal(tmp_path / "first") as first:
        stack = first.stack
        first.client("s3").create_bucket(Bucket="left-behind")

    # When another starts in this process from the same synthesized app
    with AwsLocal(tmp_path / "second", stack=stack) as second:
        # Then it has the stack's resources, and nothing of the first's
        buckets = {b["Name"] for b in second.client("s3").list_buckets()["Buckets"]}
        assert "left-behind" not in buckets
        assert second.client("kinesis").list_streams()["StreamNames"]
