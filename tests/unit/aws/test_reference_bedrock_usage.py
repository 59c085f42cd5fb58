"""The reference target's Bedrock agent reports the tokens Bedrock counted, beside the modelled
usage of the simulated agents, so a run prices the model calls it really made."""

from __future__ import annotations

import json

from botocore.stub import Stubber

from lambdas import reference_target
from stresslab.aws.bedrock import REVIEWER
from tests.unit.aws.test_reference_bedrock import (  # noqa: F401 (bedrock is a fixture)
    Context,
    _http,
    _model_answer,
    _payload,
    bedrock,
)


def test_the_answer_carries_bedrocks_own_token_counts(bedrock: Stubber) -> None:  # noqa: F811
    # Given Bedrock answering with its usage (120 input, 18 output tokens)
    bedrock.add_response("invoke_model", _model_answer('{"risk": 0.1, "reason": "ok"}'))
    # When the reference target scores a transaction
    answered = reference_target.handler(_http(json.dumps(_payload())), Context())
    # Then the answer's usage holds the model call's real counts, the rules' modelled ones too
    usage = json.loads(answered["body"])["usage"]
    assert usage[REVIEWER] == {"input_tokens": 120, "output_tokens": 18}
    assert usage["basis"] == "modelled"
    assert usage["compliance"] == {"input_tokens": 1600, "output_tokens": 220}
