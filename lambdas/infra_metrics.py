"""Infra metrics (scheduled): CloudWatch GetMetricData for the watched metrics, costed."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.infra import WatchedMetric, collect_infra, read_watched
from stresslab.aws.store import DynamoRunStore
from stresslab.judgement.business import PriceTable, load_price_table

logger, tracer, metrics = powertools("infra_metrics")


class InfraEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    WATCHED_METRICS_BUCKET: Annotated[str, Field(min_length=1)]
    WATCHED_METRICS_KEY: Annotated[str, Field(min_length=1)]


@cache
def _deps() -> tuple[DynamoRunStore, list[WatchedMetric], PriceTable]:
    env = read_env(InfraEnv)
    watched = read_watched(client("s3"), env.WATCHED_METRICS_BUCKET, env.WATCHED_METRICS_KEY)
    return DynamoRunStore(client("dynamodb"), env.TABLE_NAME), watched, load_price_table()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store, watched, prices = _deps()
    infra = collect_infra(client("cloudwatch"), watched, prices)
    store.put_infra(infra)
    return infra
