"""A run's exports by name: one refusal for a name that is not one, on every runtime."""

from __future__ import annotations

import boto3
import pytest

from stresslab.aws.results import S3Results
from stresslab.runs import EXPORTS, UnknownExport, known_export

REFUSAL = ("file: unknown export 'secrets.txt'; one of summary.json, timeseries.csv, "
           "report.html, junit.xml")


def test_each_export_is_known_and_any_other_name_is_refused_naming_them() -> None:
    assert [known_export(name) for name in EXPORTS] == list(EXPORTS)
    with pytest.raises(UnknownExport) as refused:
        known_export("secrets.txt")
    assert str(refused.value) == REFUSAL


def test_an_aws_link_to_an_unknown_export_is_refused_before_s3_is_asked() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="^file: unknown export 'secrets.txt'; one of "):
        S3Results(client, "bucket").link("r1", "secrets.txt")
