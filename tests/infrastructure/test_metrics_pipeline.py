"""The aggregator's Kinesis event source: several batches of a shard merged at once."""

from stacks.constructs.metrics_pipeline import PARALLELIZATION_FACTOR

from .conftest import SynthesizedApp


def test_the_aggregator_merges_several_batches_of_a_shard_at_once(
    synthesized: SynthesizedApp,
) -> None:
    mappings = synthesized.template.find_resources("AWS::Lambda::EventSourceMapping")
    factors = [m["Properties"].get("ParallelizationFactor", 1) for m in mappings.values()
               if m["Properties"].get("StartingPosition") == "TRIM_HORIZON"]
    assert factors == [PARALLELIZATION_FACTOR] and PARALLELIZATION_FACTOR >= 5
