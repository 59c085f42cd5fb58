"""Tests for the typed CDK context: defaults, overrides, and one-line errors naming the key."""

from typing import Any

import aws_cdk as cdk
import pytest

from stacks.context import StresslabContext, load_context


def _load(context: dict[str, Any]) -> StresslabContext:
    return load_context(cdk.App(context=context).node)


def test_defaults_apply_when_no_context_is_given() -> None:
    context = _load({})

    assert context == StresslabContext()
    assert context.stack_name == "stresslab-dev"
    assert (context.max_tps, context.max_duration_s) == (10_000, 7_200)


def test_cli_strings_are_coerced_and_cdk_keys_are_ignored() -> None:
    # Given values as `cdk synth -c key=value` passes them, next to CDK's own context keys
    raw = {
        "env_name": "load-test",
        "metrics_retention_hours": "48",
        "metrics_stream_mode": "provisioned",
        "metrics_shard_count": "4",
        "@aws-cdk/core:checkSecretUsage": True,
        "aws:cdk:enable-path-metadata": True,
    }

    context = _load(raw)

    assert context.stack_name == "stresslab-load-test"
    assert (context.metrics_retention_hours, context.shard_count) == (48, 4)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"metrics_retention_hours": "5"}, "context key 'metrics_retention_hours'='5'"),
        ({"max_tps": "lots"}, "context key 'max_tps'='lots'"),
        ({"env_name": "Prod_1"}, "context key 'env_name'='Prod_1'"),
        ({"metrics_stream_mode": "turbo"}, "context key 'metrics_stream_mode'='turbo'"),
        ({"max_tsp": 5}, "unknown context key 'max_tsp'"),
        ({"metrics_shard_count": 2}, "metrics_shard_count applies only when"),
    ],
)
def test_bad_context_exits_with_one_line_naming_the_key(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load(raw)

    message = str(exit_info.value.code)
    assert message.startswith("stresslab: invalid CDK context: ")
    assert expected in message
    assert "\n" not in message
