"""Infrastructure metrics: CloudWatch GetMetricData for the watched metrics, and their cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from stresslab.judgement.business import PriceTable


class WatchedMetric(BaseModel):
    """One CloudWatch metric to watch; with `price`, its usage is costed from the price table."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Annotated[str, Field(pattern=r"^[a-z][a-zA-Z0-9_]{0,254}$")]
    namespace: str
    metric: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: str = "Sum"
    period: Annotated[int, Field(ge=60)] = 60
    label: str = ""
    price: str | None = Field(default=None, description="price table entry, e.g. lambda_request")
    scale: float = Field(default=1.0, description="multiplies the value into the price's unit")


WATCHED = TypeAdapter(list[WatchedMetric])


def parse_watched(text: str | bytes) -> list[WatchedMetric]:
    return WATCHED.validate_json(text or "[]")


def read_watched(s3: Any, bucket: str, key: str) -> list[WatchedMetric]:
    """The list the stack writes to S3 (too large for a function's environment)."""
    return parse_watched(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def collect_infra(
    cloudwatch: Any, watched: list[WatchedMetric], prices: PriceTable, now: datetime | None = None,
    window_s: int = 300,
) -> dict[str, Any]:
    """Latest value of each metric and the estimated cost per hour of the priced ones."""
    end = now or datetime.now(UTC)
    start = end - timedelta(seconds=window_s)
    metrics: dict[str, Any] = {}
    if watched:
        queries = [{
            "Id": m.id,
            "MetricStat": {
                "Metric": {"Namespace": m.namespace, "MetricName": m.metric,
                           "Dimensions": [{"Name": k, "Value": v}
                                          for k, v in m.dimensions.items()]},
                "Period": m.period, "Stat": m.stat,
            },
            "ReturnData": True,
        } for m in watched]
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start,
                                  "EndTime": end}
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page["MetricDataResults"]:
                entry = metrics.setdefault(result["Id"], {"values": [], "timestamps": []})
                entry["values"] += list(result.get("Values", []))
                entry["timestamps"] += [t.isoformat() for t in result.get("Timestamps", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    cost_per_hour = 0.0
    out = {}
    for m in watched:
        values = metrics.get(m.id, {}).get("values", [])
        out[m.id] = {"label": m.label or f"{m.namespace} {m.metric}", "stat": m.stat,
                     "latest": values[0] if values else None, "window_total": sum(values)}
        if m.price:
            cost_per_hour += sum(values) * m.scale * prices.price(m.price) * 3600 / window_s
    return {"at": end.isoformat(timespec="seconds"), "window_s": window_s, "metrics": out,
            "cost_usd_per_hour": round(cost_per_hour, 6), "pricing_source": prices.source}
