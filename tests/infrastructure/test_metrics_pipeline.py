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


def test_the_aggregator_emits_its_run_metrics_in_the_namespace_the_alarms_read(
    synthesized: SynthesizedApp,
) -> None:
    # Given the aggregator function and the alarms on its metrics
    functions = synthesized.template.find_resources("AWS::Lambda::Function")
    aggregator = [f["Properties"] for f in functions.values()
                  if f["Properties"].get("Handler") == "lambdas.aggregator.handler"]
    assert len(aggregator) == 1
    # Then Powertools' EMF namespace is set, and it is where the alarms look
    namespace = aggregator[0]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    alarms = synthesized.template.find_resources("AWS::CloudWatch::Alarm")
    spaces = {a["Properties"].get("Namespace") for a in alarms.values()} - {None}
    assert namespace and namespace in spaces, (namespace, spaces)
