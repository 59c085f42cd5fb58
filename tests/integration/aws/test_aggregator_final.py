"""The aggregator handler under moto at the end of a run: the last planned second's totals are
every batch merged (as the summary's are), and a batch merged after its second was ticked is
carried into the latest tick by a correction, stored for late viewers and alarmed on once."""

from __future__ import annotations

import pytest

from stresslab.aws.store import DynamoRunStore

from .test_aggregator_scaling import batch, deliver, plan_workers, readings
from .world import TABLE, World


def ok_of(store: DynamoRunStore, run_id: str) -> tuple[int, int]:
    """(ok in the latest tick's totals, ok in every stored second)."""
    last, total = store.last_tick(run_id), store.total(run_id)
    assert last is not None and total is not None
    return last[1].batch.ok, total.batch.ok


def test_the_last_tick_and_its_correction_carry_every_batch_merged(
    aws: World, capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a 3 s run of two workers; both report every second, their last one final
    plan_workers("fin-1", 2, seconds=3)
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    deliver(aws, [batch("fin-1", w, s, ok=5, final=s == 2)
                  for s in range(3) for w in ("w0-s0", "w0-s1")])
    assert ok_of(store, "fin-1") == (30, 30)
    capsys.readouterr()

    # When a batch is merged after the last second was ticked (a retried attempt's answers,
    # in a window past the plan)
    deliver(aws, [batch("fin-1", "w0-s1-r1", 3, ok=4, final=True)])

    # Then the last tick's stored totals are raised to every batch merged, without a second
    # alarm reading or partial count for a second already ticked
    assert ok_of(store, "fin-1") == (34, 34)
    out = capsys.readouterr().out
    assert readings(out, "ErrorRate") == [] and readings(out, "PartialSeconds") == [0.0]
    last = store.last_tick("fin-1")
    assert last is not None and last[0] == 2 and last[1].batches == 7

    # And a redelivery of that batch changes nothing
    deliver(aws, [batch("fin-1", "w0-s1-r1", 3, ok=4, final=True)])
    assert ok_of(store, "fin-1") == (34, 34)
