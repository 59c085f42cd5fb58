"""A snapshot on AWS is one WebSocket frame: a long run's history is thinned until it fits."""

from __future__ import annotations

import json

from stresslab.aws.planning import WEBSOCKET_FRAME_LIMIT
from stresslab.aws.websocket import snapshot_within_frame
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import Cost, Hero, Snapshot, Tick, Totals


def tick(second: int) -> Tick:
    # A real second's row and totals (empty seconds), padded to about 1 KB a tick
    row = RunAggregator("r", [10.0] * (second + 1)).second_row(second)
    totals = {**{key: value for key, value in row.items() if key in Totals.__annotations__},
              "peak_tps": 10, "precision": None, "recall": None, "false_positive_rate": None,
              "by_pattern": {}, "fraud_missed": 0.0, "false_positive_amount": 0.0}
    return Tick.model_validate({
        "run_id": "r", "second": second, "elapsed_s": second + 1.0, "window": row,
        "infra": {"padding": "x" * 400},
        "hero": Hero(transactions_processed=second, fraud_blocked=0, money_saved=0.0,
                     currency="USD", uptime_pct=None, current_tps=10.0, ai_accuracy=None),
        "totals": totals, "agents": [],
        "cost": Cost(cost_per_transaction=0.0, usd_per_hour=0.0, projected_usd_per_day=0.0,
                     budget_usd_per_day=1.0, budget_status="on track", pricing_source="t"),
    })


def test_a_short_runs_history_goes_whole() -> None:
    snapshot = Snapshot(run=None, history=[tick(s) for s in range(20)])

    sent = json.loads(snapshot_within_frame(snapshot))

    assert [t["second"] for t in sent["history"]] == list(range(20))


def test_a_long_runs_history_is_thinned_into_one_frame_keeping_its_first_and_last_seconds(
) -> None:
    # Given 600 ticks of about 1 KB: several times a frame
    snapshot = Snapshot(run=None, history=[tick(s) for s in range(600)])
    assert len(snapshot.to_json().encode()) > 4 * WEBSOCKET_FRAME_LIMIT

    text = snapshot_within_frame(snapshot)

    seconds = [t["second"] for t in json.loads(text)["history"]]
    assert len(text.encode()) <= WEBSOCKET_FRAME_LIMIT
    assert seconds[0] == 0 and seconds[-1] == 599 and seconds == sorted(set(seconds))
    assert len(seconds) > 50


def test_a_history_no_frame_can_hold_is_left_out() -> None:
    snapshot = Snapshot(run=None, history=[tick(0)])

    assert json.loads(snapshot_within_frame(snapshot, limit=200))["history"] == []
