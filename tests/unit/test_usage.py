"""A target's reported model usage: read from its answer (bounded), carried in MetricsBatch."""

from __future__ import annotations

from stresslab.measurement.metrics import MetricsBatch, WindowStats
from stresslab.targets.config import ResponseMapping
from stresslab.targets.response import MAX_TOKENS, ResponseReader, read_usage


def test_usage_per_agent_is_summed() -> None:
    usage = {"geo": {"input_tokens": 1200, "output_tokens": 150},
             "velocity": {"input_tokens": 800, "output_tokens": 50}}
    assert read_usage(usage) == (2000, 200, False)
    assert read_usage({"input_tokens": 7, "output_tokens": 3}) == (7, 3, False)  # one total
    # an answer may say its figures are modelled (the reference service's are)
    assert read_usage({"basis": "modelled", **usage}) == (2000, 200, True)


def test_implausible_counts_and_shapes_are_left_out() -> None:
    assert read_usage(None) is None and read_usage([1, 2]) is None and read_usage({}) is None
    assert read_usage({"a": "lots", "b": {"input_tokens": "9"}}) is None
    assert read_usage({"a": {"input_tokens": True, "output_tokens": -1}}) is None
    assert read_usage({"a": {"input_tokens": MAX_TOKENS + 1, "output_tokens": 5}}) == (0, 5, False)
    assert read_usage({"a": {"input_tokens": 1.5, "output_tokens": 2}}) == (0, 2, False)


def test_only_the_first_agents_of_a_hostile_answer_are_read() -> None:
    many = {f"agent{i}": {"input_tokens": 1, "output_tokens": 1} for i in range(10_000)}
    assert read_usage(many, max_agents=16) == (16, 16, False)


def test_the_response_mapping_reads_usage_at_its_path() -> None:
    reader = ResponseReader(ResponseMapping(decision="outcome.action",
                                            decision_map={"OK": "approve"},
                                            usage="meta.tokens"))
    answer = {"outcome": {"action": "OK"},
              "meta": {"tokens": {"a": {"input_tokens": 5, "output_tokens": 1}}}}
    assert reader.read(answer).usage == (5, 1, False)
    assert reader.read({"outcome": {"action": "OK"}}).usage is None
    assert reader.read({"outcome": {"action": "NO"}, "meta": answer["meta"]}).usage is None


def test_usage_survives_the_batch_and_merges_exactly() -> None:
    stats = WindowStats()
    stats.record_usage(1000, 100, modelled=True)
    stats.record_usage(500, 50)
    batch = stats.to_batch("r", "w0", 0, 0, 1, 0)
    wire = MetricsBatch.model_validate_json(batch.model_dump_json())
    assert wire.usage.model_dump() == {"answers": 2, "modelled_answers": 1,
                                       "input_tokens": 1500, "output_tokens": 150}
    merged = WindowStats.merged([WindowStats.from_batch(wire), WindowStats.from_batch(wire)])
    assert (merged.usage_answers, merged.modelled_usage_answers, merged.input_tokens,
            merged.output_tokens) == (4, 2, 3000, 300)


def test_a_batch_from_before_usage_reads_as_none_reported() -> None:
    old = WindowStats().to_batch("r", "w0", 0, 0, 1, 0).model_dump()
    del old["usage"]
    assert WindowStats.from_batch(MetricsBatch.model_validate(old)).usage_answers == 0
