"""The AWS run list names each run's system under test (moto's DynamoDB)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from stresslab.aws.store import DynamoRunStore


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="runs", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}])
        yield DynamoRunStore(dynamodb, "runs")


def test_each_listed_run_names_its_target_by_host_never_its_path(store) -> None:
    store.create_run("r1", "2026-12-03T10:00:00Z", {
        "scenario": "smoke", "target": "https://api.partner.example/v2/assess?key=s3cret"})
    store.create_run("r2", "2026-12-03T11:00:00Z", {"scenario": "smoke",
                                                    "target": "kinesis:fraud-in"})
    systems = {run["run_id"]: run["system"] for run in store.list_runs()}
    assert systems == {"r1": "api.partner.example (http)", "r2": "fraud-in (kinesis)"}
