"""On AWS a platform's model usage is read from CloudWatch (AWS/Bedrock InputTokenCount,
OutputTokenCount) and priced from config/pricing.yaml's token prices (moto's CloudWatch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from stresslab.aws.infra import WatchedMetric, collect_infra
from stresslab.judgement.business import load_price_table

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_bedrock_token_metrics_are_priced_per_token(cloudwatch) -> None:
    # Given Bedrock's token counts for the platform's model over the last minutes
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for metric, value in (("InputTokenCount", 600_000.0), ("OutputTokenCount", 60_000.0)):
        cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=[{
            "MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": MODEL}],
            "Timestamp": now - timedelta(minutes=1), "Value": value}])
    watched = [WatchedMetric(id=f"m{i}", namespace="AWS/Bedrock", metric=metric,
                             dimensions={"ModelId": MODEL}, price=price)
               for i, (metric, price) in enumerate((("InputTokenCount", "bedrock_input_token"),
                                                    ("OutputTokenCount", "bedrock_output_token")))]
    prices = load_price_table()
    # When the infrastructure metrics are collected over a 300 s window
    infra = collect_infra(cloudwatch, watched, prices, now=now, window_s=300)
    # Then the tokens are priced at the table's per-token prices, per hour
    per_window = 600_000 * prices.price("bedrock_input_token") \
        + 60_000 * prices.price("bedrock_output_token")
    assert infra["metrics"]["m0"]["window_total"] == 600_000
    assert infra["cost_usd_per_hour"] == pytest.approx(per_window * 12, rel=1e-6)
