"""The script of the store-throttle runbook: hold a DynamoDB table's throughput down, restore it.

SSM Automation runs `throttle` and `restore` as aws:executeScript handlers (boto3 is in that
runtime). The table's own settings are kept in a tag on the table, not in the automation, so a
restore after a cancel, a failure or a second overlapping experiment still finds them.
"""

import time
from typing import Any

RESTORE_TAG = "stresslab:restore-throughput"
PROVISIONED = "PROVISIONED"
ON_DEMAND = "PAY_PER_REQUEST"
# On-demand tables take -1 as "no maximum throughput".
NO_MAXIMUM = -1
# An aws:executeScript step runs for at most 600 s.
_WAIT_ACTIVE_S = 540
_POLL_S = 5


def throttle(events: dict[str, Any], context: Any, client: Any = None) -> dict[str, Any]:
    """Tag the table with its current throughput, then hold reads and writes at `Units`."""
    dynamodb = client or _client()
    table = _wait_active(dynamodb, events["TableName"])
    units = int(events["Units"])
    mode, read, write = _current(table)
    if _saved(dynamodb, table["TableArn"]) is None:
        value = f"{mode}:{read}:{write}"
        dynamodb.tag_resource(
            ResourceArn=table["TableArn"], Tags=[{"Key": RESTORE_TAG, "Value": value}]
        )
    target = (_lowered(read, units), _lowered(write, units))
    if target != (read, write):
        dynamodb.update_table(TableName=table["TableName"], **_throughput(mode, *target))
        _wait_active(dynamodb, table["TableName"])
    return {"table": table["TableName"], "mode": mode, "read": target[0], "write": target[1]}


def restore(events: dict[str, Any], context: Any, client: Any = None) -> dict[str, Any]:
    """Put back the throughput the tag kept and remove the tag; nothing to do without one."""
    dynamodb = client or _client()
    table = _wait_active(dynamodb, events["TableName"])
    saved = _saved(dynamodb, table["TableArn"])
    if saved is None:
        return {"table": table["TableName"], "restored": False}
    mode, read, write = saved.split(":")
    kept = (int(read), int(write))
    if (mode, *kept) != _current(table):
        dynamodb.update_table(TableName=table["TableName"], **_throughput(mode, *kept))
        _wait_active(dynamodb, table["TableName"])
    dynamodb.untag_resource(ResourceArn=table["TableArn"], TagKeys=[RESTORE_TAG])
    return {"table": table["TableName"], "restored": True, "read": kept[0], "write": kept[1]}


def _current(table: dict[str, Any]) -> tuple[str, int, int]:
    mode = table.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED)
    if mode == PROVISIONED:
        throughput = table["ProvisionedThroughput"]
        return mode, int(throughput["ReadCapacityUnits"]), int(throughput["WriteCapacityUnits"])
    maximum = table.get("OnDemandThroughput", {})
    return (
        mode,
        int(maximum.get("MaxReadRequestUnits", NO_MAXIMUM)),
        int(maximum.get("MaxWriteRequestUnits", NO_MAXIMUM)),
    )


def _lowered(current: int, units: int) -> int:
    # Never raise a table's throughput: a fault only takes capacity away.
    return units if current == NO_MAXIMUM else min(current, units)


def _throughput(mode: str, read: int, write: int) -> dict[str, Any]:
    if mode == PROVISIONED:
        return {"ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write}}
    return {"OnDemandThroughput": {"MaxReadRequestUnits": read, "MaxWriteRequestUnits": write}}


def _saved(dynamodb: Any, table_arn: str) -> str | None:
    tags = dynamodb.list_tags_of_resource(ResourceArn=table_arn).get("Tags", [])
    return next((str(tag["Value"]) for tag in tags if tag["Key"] == RESTORE_TAG), None)


def _wait_active(dynamodb: Any, table_name: str) -> dict[str, Any]:
    deadline = time.monotonic() + _WAIT_ACTIVE_S
    while True:
        table: dict[str, Any] = dynamodb.describe_table(TableName=table_name)["Table"]
        if table["TableStatus"] == "ACTIVE" or time.monotonic() > deadline:
            return table
        time.sleep(_POLL_S)


def _client() -> Any:
    import boto3

    return boto3.client("dynamodb")
