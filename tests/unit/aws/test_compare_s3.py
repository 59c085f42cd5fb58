"""`stresslab compare` with runs in the AWS results bucket (moto's S3): summary.json read from
s3://bucket/runs/RUN_ID as S3Results stores it, or from the file's own key."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stresslab.aws.results import output_key
from stresslab.aws.summaries import fetch_summary, summary_location
from stresslab.cli import main

GOLDEN = Path(__file__).parents[1] / "summary_golden" / "local.json"
BUCKET = "stresslab-results"


@pytest.fixture
def bucket(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        golden = json.loads(GOLDEN.read_text())
        slower = {**golden, "run_id": "r-slower",
                  "latency_ms": {k: v * 1.3 for k, v in golden["latency_ms"].items()}}
        for summary in (golden, slower):
            s3.put_object(Bucket=BUCKET, Key=output_key(summary["run_id"], "summary.json"),
                          Body=json.dumps(summary).encode())
        yield s3


def test_a_run_folder_or_a_key_names_the_summary():
    assert summary_location("s3://b/runs/r1") == ("b", "runs/r1/summary.json")
    assert summary_location("s3://b/runs/r1/") == ("b", "runs/r1/summary.json")
    assert summary_location("s3://b/x/summary.json") == ("b", "x/summary.json")
    for bad in ("s3://b", "s3:///runs/r1", "s3://b/"):
        with pytest.raises(ValueError, match="expected s3://bucket/prefix/RUN_ID"):
            summary_location(bad)


def test_compare_reads_both_runs_from_the_results_bucket(bucket, tmp_path, capsys):
    assert json.loads(fetch_summary(f"s3://{BUCKET}/runs/r-golden", bucket))["run_id"] == (
        "r-golden")
    out = tmp_path / "cmp"
    code = main(["compare", f"s3://{BUCKET}/runs/r-golden",
                 f"s3://{BUCKET}/runs/r-slower/summary.json", "--out", str(out),
                 "--db", str(tmp_path / "none.db")])
    assert code in (0, 1), capsys.readouterr()
    data = json.loads((out / "compare.json").read_text())
    assert (data["baseline"]["run_id"], data["candidate"]["run_id"]) == ("r-golden", "r-slower")
    p95 = next(m for m in data["metrics"] if m["metric"] == "p95_ms")
    assert p95["delta_pct"] == pytest.approx(30)
    assert data["baseline"]["latency_from"] == "summary figures"  # no histograms in the bucket


def test_a_missing_run_in_the_bucket_is_one_line_exit_2_and_nothing_written(
        bucket, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", f"s3://{BUCKET}/runs/r-golden", f"s3://{BUCKET}/runs/nope",
                 "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err == (f"stresslab: error: s3://{BUCKET}/runs/nope: cannot read "
                   f"s3://{BUCKET}/runs/nope/summary.json (NoSuchKey)")
    assert not out.exists()
