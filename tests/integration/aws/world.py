"""A moto AWS account with everything the handlers need, and helpers to drive them."""

from __future__ import annotations

import asyncio
import base64
import functools
import importlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from aiohttp import web

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "stresslab-runs"
STREAM = "stresslab-metrics"
BUCKET = "stresslab-results"
VIEWER_LINK_SECRET = "stresslab/viewer-link-key"
PRESENTATION_URL = "https://d123.cloudfront.net/presentation.html"
WS_ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/live"
USER_POOL_ID = "us-east-1_TestPool1"
CLIENT_ID = "client-abc"
HANDLERS = ("plan", "load_generator", "aggregator", "evaluate", "cleanup", "ws_connect",
            "ws_disconnect", "ws_default", "control_api", "infra_metrics",
            "reference_target_authorizer")


def reset_handlers() -> None:
    """Forget cached settings and clients, so the next call builds them inside this mock."""
    from stresslab.aws import clients

    clients.client.cache_clear()
    for name in HANDLERS:
        module = importlib.import_module(f"lambdas.{name}")
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


@dataclass
class World:
    templates: dict[str, str]
    stream_arn: str
    env: dict[str, str] = field(default_factory=dict)
    _iterator: str | None = None

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=REGION, **kwargs)

    def read_stream(self) -> list[dict[str, Any]]:
        """Records put since the last read (one shard)."""
        kinesis = self.client("kinesis")
        if self._iterator is None:
            shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
            self._iterator = kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        records = []
        while True:
            page = kinesis.get_records(ShardIterator=self._iterator, Limit=1000)
            self._iterator = page["NextShardIterator"]
            records += page["Records"]
            if not page["Records"]:
                return records

    def kinesis_event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's Kinesis event source mapping would deliver for these records."""
        return {"Records": [{
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventName": "aws:kinesis:record",
            "eventID": f"shardId-000000000000:{r['SequenceNumber']}", "awsRegion": REGION,
            "eventSourceARN": self.stream_arn,
            "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/aggregator",
            "kinesis": {
                "kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"],
                "data": base64.b64encode(r["Data"]).decode(),
                "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
            },
        } for r in records]}


def build_world() -> World:
    """Inside mock_aws: table, stream, bucket, parameters and FIS templates."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=STREAM)[
        "StreamDescriptionSummary"]["StreamARN"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    viewer_key_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=VIEWER_LINK_SECRET, SecretString="k" * 64)["ARN"]
    fis = boto3.client("fis", region_name=REGION)
    templates = {}
    for fault in ("agent_errors", "latency"):
        templates[fault] = fis.create_experiment_template(
            clientToken=fault, description=f"stresslab {fault}",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/fis",
            stopConditions=[{"source": "none"}],
            actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}},
        )["experimentTemplate"]["id"]
    templates["latency:geographic_risk"] = templates["latency"]  # as a per-agent template
    world = World(templates=templates, stream_arn=stream_arn)
    world.env = {
        "TABLE_NAME": TABLE, "METRICS_STREAM_NAME": STREAM, "RESULTS_BUCKET": BUCKET,
        "VIEWER_LINK_SECRET_ARN": viewer_key_arn, "PRESENTATION_URL": PRESENTATION_URL,
        "WS_ENDPOINT": WS_ENDPOINT, "USER_POOL_ID": USER_POOL_ID,
        "USER_POOL_CLIENT_ID": CLIENT_ID, "MAX_TPS": "1000", "MAX_DURATION_S": "3600",
        "MAX_WORKERS": "16", "FAULT_TEMPLATES": json.dumps(templates), "START_MARGIN_S": "2",
        "LAUNCH_LEAD_S": "5", "SETTLE_TIMEOUT_S": "5",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:run-scenario",
    }
    return world


@dataclass
class ScoreServer:
    """A small HTTP scoring service on 127.0.0.1: flags large amounts, counts what it got."""

    url: str
    received: int = 0
    fail_every: int = 0




def serve_scores() -> Iterator[ScoreServer]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}
    server = ScoreServer(url="")

    async def score(request: web.Request) -> web.Response:
        payload = await request.json()
        server.received += 1
        decision = "block" if float(payload.get("amount", 0)) > 500 else "approve"
        return web.json_response({"decision": decision,
                                  "agents": {"transaction_analysis": {"ms": 1.0}}})

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/score", score)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        holder["runner"] = runner
        server.url = f"http://127.0.0.1:{port}/v1/score"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
