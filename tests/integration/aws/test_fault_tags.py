"""FisFaults against moto: experiments carry the stack's tag (the stack's grants stop only
those), and a fault FIS failed becomes its summary entry."""

from __future__ import annotations

import json

from stresslab.aws.faults import RUN_TAG, STACK_TAG, FisFaults, fault_failure

from .world import World


def test_experiments_started_by_hand_carry_the_stack_tag(aws: World) -> None:
    # Given the control API's FisFaults, told its stack's name
    faults = FisFaults(aws.client("fis"), aws.templates, stack="stresslab-dev")

    # When an operator injects a fault
    experiment_id = faults.start("latency", run_id="r1")

    # Then the experiment carries the tag the stack's StartExperiment grant requires
    (experiment,) = aws.client("fis").list_experiments()["experiments"]
    assert experiment["id"] == experiment_id
    assert experiment["tags"][STACK_TAG] == "stresslab-dev"
    assert experiment["tags"][RUN_TAG] == "r1"


def test_a_fault_fis_failed_becomes_a_failed_summary_entry() -> None:
    caught = json.dumps({"Error": "Fis.ValidationException", "Cause": "role cannot be assumed"})
    start = [{"index": "2", "key": "latency:all", "phase": "start", "error": caught}]
    stop = [{"index": "0", "key": "latency:all", "phase": "stop", "error": "not JSON"}]

    assert fault_failure(start, 2) == {
        "status": "failed to start with AWS FIS",
        "error": "Fis.ValidationException: role cannot be assumed",
        "start_s": None, "end_s": None,
    }
    assert fault_failure(start, 1) == {}
    assert fault_failure(stop, 0) == {
        "status": "failed to stop with AWS FIS (its action backstop ends it)",
        "error": "not JSON",
    }
