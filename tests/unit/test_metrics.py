"""MetricsBatch and WindowStats: merged histograms equal one histogram of all values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stresslab.measurement.metrics import (
    MAX_NAMES,
    OTHER,
    MetricsBatch,
    NameBook,
    WindowStats,
    clean_name,
    new_histogram,
    record_us,
)

latencies = st.lists(st.floats(0.000001, 30.0), max_size=300)


@settings(max_examples=40, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=6))
def test_merging_batches_equals_recording_everything_in_one_histogram(groups):
    # Given workers that each recorded some latencies and sent them as batches
    merged = WindowStats()
    for seq, values in enumerate(groups):
        stats = WindowStats()
        for value in values:
            record_us(stats.latency, value)
        batch = stats.to_batch("run", f"w{seq}", 0, seq, 0, 0)
        merged.add_batch(MetricsBatch.model_validate_json(batch.model_dump_json(by_alias=True)))
    # And one histogram that saw every value
    single = new_histogram()
    for values in groups:
        for value in values:
            record_us(single, value)
    # Then every percentile, the count, min and max are identical
    assert merged.latency.get_total_count() == single.get_total_count()
    for percentile in (0, 50, 90, 95, 99, 99.9, 100):
        assert merged.latency.get_value_at_percentile(percentile) == \
            single.get_value_at_percentile(percentile)
    assert merged.latency.get_max_value() == single.get_max_value()


def test_counts_and_confusion_round_trip():
    stats = WindowStats()
    stats.scheduled, stats.sent, stats.ok, stats.dropped, stats.timeouts = 10, 9, 6, 1, 1
    stats.errors["http_429"] = 2
    stats.record_decision("block", True, True, "card_testing", 10.0)
    stats.record_decision("approve", False, True, "impossible_travel", 20.0)
    stats.record_decision("review", True, False, "normal", 5.0)
    stats.record_decision("approve", False, False, "normal", 7.0)
    stats.record_agent("geo", 0.004, failed=False)
    stats.record_agent("geo", None, failed=True)
    batch = stats.to_batch("run", "w0-s0", 0, 0, 3, 7, final=True)
    again = WindowStats()
    again.add_batch(MetricsBatch.model_validate(batch.model_dump(by_alias=True)))
    counts = (again.scheduled, again.sent, again.ok, again.dropped, again.timeouts)
    assert counts == (10, 9, 6, 1, 1)
    assert again.error_total == 2
    assert (again.tp, again.fn, again.fp, again.tn) == (1, 1, 1, 1)
    assert again.patterns == {"card_testing": [1, 1], "impossible_travel": [1, 0], "normal": [2, 1]}
    assert (again.fraud_prevented, again.fraud_missed, again.false_positive) == (10.0, 20.0, 5.0)
    assert again.agent_calls == {"geo": 2} and again.agent_errors == {"geo": 1}
    assert batch.key == ("w0-s0", 3)
    assert batch.model_dump(by_alias=True)["schema"] == "stresslab.metrics/v1"


def test_add_stats_matches_add_batch():
    a, b = WindowStats(), WindowStats()
    for i in range(50):
        record_us(a.latency, i / 1000)
        record_us(b.lag, i / 10_000)
        a.record_decision("block", True, i % 2 == 0, "p", 1.0)
    via_batches, via_stats = WindowStats(), WindowStats()
    for stats in (a, b):
        via_batches.add_batch(stats.to_batch("r", "w", 0, 0, 0, 0))
        via_stats.add_stats(stats)
    assert via_stats.latency.get_value_at_percentile(95) == \
        via_batches.latency.get_value_at_percentile(95)
    assert via_stats.lag.get_total_count() == 50
    assert (via_stats.tp, via_stats.fp) == (via_batches.tp, via_batches.fp) == (25, 25)


@pytest.mark.parametrize("change, field", [
    ({"sent": -1}, "sent"),
    ({"schema": "stresslab.metrics/v0"}, "schema"),
    ({"worker_id": ""}, "worker_id"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_batches_are_refused(change, field):
    body = WindowStats().to_batch("r", "w", 0, 0, 0, 0).model_dump(by_alias=True)
    body.update(change)
    with pytest.raises(ValidationError, match=field):
        MetricsBatch.model_validate(body)


def test_a_frozen_window_reads_and_merges_like_a_live_one():
    live = WindowStats()
    for i in range(1, 300):
        record_us(live.latency, i / 1000)
        record_us(live.lag, i / 100_000)
        live.record_agent("geo", i / 10_000, failed=False)
    frozen = WindowStats()
    frozen.add_stats(live)
    frozen.freeze()
    assert frozen.latency.get_value_at_percentile(99) == live.latency.get_value_at_percentile(99)
    assert frozen.lag.get_total_count() == 299
    assert frozen.agent_latency["geo"].get_total_count() == 299
    # a late arrival thaws it and counts
    frozen.add_stats(live)
    assert frozen.latency.get_total_count() == 598
    assert frozen.to_batch("r", "w", 0, 0, 0, 0).latency


def test_names_are_cleaned_of_markup_control_characters_and_length():
    assert clean_name("<img src=x onerror=alert(1)>", 64) == "img src=x onerror=alert(1)"
    assert clean_name("geo\x00\n\u202e\tlocation", 64) == "geolocation"
    assert clean_name("a" * 500, 64) == "a" * 64
    assert clean_name("<>&\"'`", 64) == "unnamed"
    assert clean_name("géo", 64) == "géo"


def test_a_name_book_keeps_the_first_names_and_folds_the_rest_into_other():
    book = NameBook(limit=2, max_length=8)
    assert book.admit("block") == ("block", False, False)
    assert book.admit("<b>approve</b>") == ("bapprove", False, True)
    assert book.admit("review") == (OTHER, True, False)
    assert book.admit("block") == ("block", False, False)
    assert book.admit("<b>approve</b>") == ("bapprove", False, True)
    # a third raw form that cleans to a name already kept is that name, not `other`
    assert book.admit("bapprove") == ("bapprove", False, False)
    for n in range(10_000):
        assert book.admit(f"id-{n}")[0] == OTHER
    assert len(book) <= 2 * 4 + 2


def test_bound_counts_travel_in_the_batch_and_old_batches_still_parse():
    stats = WindowStats()
    stats.decisions_folded, stats.agents_folded, stats.names_cleaned = 3, 4, 5
    batch = stats.to_batch("r", "w", 0, 0, 0, 0)
    back = WindowStats.from_batch(MetricsBatch.model_validate_json(batch.model_dump_json()))
    assert (back.decisions_folded, back.agents_folded, back.names_cleaned) == (3, 4, 5)
    merged = WindowStats.merged([back, back])
    assert (merged.decisions_folded, merged.agents_folded, merged.names_cleaned) == (6, 8, 10)
    old = batch.model_dump(by_alias=True)
    del old["bounded"]
    del old["errors"]["oversized"]
    assert WindowStats.from_batch(MetricsBatch.model_validate(old)).decisions_folded == 0


def test_merging_never_holds_more_than_the_ceiling_of_names():
    # Given workers that each saw different decision values and agent names
    total = WindowStats()
    for worker in range(10):
        stats = WindowStats()
        for n in range(MAX_NAMES):
            stats.record_decision(f"d{worker}-{n}", False, False, "legit", 1.0)
            stats.record_agent(f"a{worker}-{n}", 0.001, failed=n % 2 == 0)
        total.add_stats(stats)
    # Then the merged window keeps the first MAX_NAMES of each and folds the rest, exactly
    assert len(total.decisions) == MAX_NAMES + 1
    assert sum(total.decisions.values()) == 10 * MAX_NAMES
    assert total.decisions_folded == total.decisions[OTHER] == 9 * MAX_NAMES
    assert len(total.agent_calls) == len(total.agent_latency) == MAX_NAMES + 1
    assert sum(total.agent_calls.values()) == 10 * MAX_NAMES
    assert total.agent_errors[OTHER] == 9 * MAX_NAMES // 2
    assert total.agent_latency[OTHER].get_total_count() == 9 * MAX_NAMES
    assert total.agents_folded == 9 * MAX_NAMES


def test_record_us_clamps_what_no_histogram_can_hold():
    histogram = new_histogram()
    for seconds in (float("inf"), 1e305, float("nan"), -1.0):
        record_us(histogram, seconds)
    assert histogram.get_total_count() == 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1.0, 7200.0), st.sampled_from(
    [float("inf"), float("nan"), 0.0, -0.0, 1e-9, 3_600.0])), max_size=400))
def test_tallied_latency_and_lag_equal_recording_each_value(values):
    # Given the same values recorded one by one and tallied by the worker's fast path
    one_by_one, tallied = WindowStats(), WindowStats()
    for seconds in values:
        record_us(one_by_one.latency, seconds)
        record_us(one_by_one.lag, max(seconds, 0.0))
        tallied.record_latency(seconds)
        tallied.record_lag(seconds)
    # Then the histograms, and the batches made from them, are the same to the byte
    for mine, theirs in ((tallied.latency, one_by_one.latency), (tallied.lag, one_by_one.lag)):
        assert mine.get_total_count() == theirs.get_total_count() == len(values)
        assert mine.encode() == theirs.encode() or not values
        assert (mine.get_min_value(), mine.get_max_value()) == (
            theirs.get_min_value(), theirs.get_max_value())
    batch = tallied.to_batch("run", "w0", 0, 0, 0, 0)
    assert batch == one_by_one.to_batch("run", "w0", 0, 0, 0, 0)


def test_a_tally_survives_freezing_merging_and_more_recording():
    # Given a window with tallied values not yet read, frozen, then recorded into again
    stats = WindowStats()
    for ms in (1, 2, 2, 5):
        stats.record_latency(ms / 1000)
    stats.record_lag(0.0005)
    stats.freeze()
    stats.record_latency(0.009)
    total = WindowStats.merged([stats, stats])
    # Then nothing was lost or counted twice
    assert stats.latency.get_total_count() == 5 and stats.lag.get_total_count() == 1
    assert total.latency.get_total_count() == 10
    assert stats.latency.get_max_value() == pytest.approx(9000, rel=0.001)
