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
        ({"platform_subnet_ids": '["sn-1"]'}, "context key 'platform_subnet_ids.0'"),
        ({"fault_throttle_percentage": 0}, "context key 'fault_throttle_percentage'=0"),
        (
            {
                "platform_function_arns": {
                    "transactions": "arn:aws:lambda:eu-west-1:123456789012:function:t"
                },
                "target_stream_arns": [
                    "arn:aws:kinesis:eu-west-1:123456789012:stream/transactions"
                ],
            },
            "stream 'transactions' has the name of an agent",
        ),
        (
            {
                "target_stream_consumer_roles": {
                    "arn:aws:kinesis:eu-west-1:123456789012:stream/orders":
                        "arn:aws:iam::123456789012:role/consumer"
                }
            },
            "is not one of target_stream_arns",
        ),
        ({"platform_table_names": ["all"]}, "'all' names the template of every table"),
    ],
)
def test_bad_context_exits_with_one_line_naming_the_key(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load(raw)

    message = str(exit_info.value.code)
    assert message.startswith("stresslab: invalid CDK context: ")
    assert expected in message
    assert "\n" not in message


def test_platform_and_safety_keys_parse_from_cli_strings() -> None:
    # Given JSON objects and numbers as `cdk -c key=value` passes them
    raw = {
        "platform_function_arns": '{"geographic_risk": '
        '"arn:aws:lambda:eu-west-1:123456789012:function:geo"}',
        "watched_metrics": '[{"namespace": "AWS/DynamoDB", "metric": "ThrottledRequests",'
        ' "dimensions": {"TableName": "decisions"}}]',
        "max_workers": "200",
        "worker_reserved_concurrency": "450",
        "critical_error_rate_pct": "2",
        "deploy_reference_target": "true",
        "platform_table_names": '["decisions"]',
        "platform_subnet_ids": '["subnet-0a1b2c3d4e5f60718"]',
        "fault_store_capacity_units": "2",
    }

    context = _load(raw)

    assert context.platform_function_arns == {
        "geographic_risk": "arn:aws:lambda:eu-west-1:123456789012:function:geo"
    }
    assert context.watched_metrics[0].metric == "ThrottledRequests"
    assert (context.max_workers, context.worker_concurrency) == (200, 450)
    assert context.platform_table_names == ["decisions"]
    assert context.platform_subnet_ids == ["subnet-0a1b2c3d4e5f60718"]
    assert context.fault_store_capacity_units == 2
    assert context.critical_error_rate_pct == 2.0
    assert context.deploy_reference_target is True


def test_worker_concurrency_defaults_to_two_waves_of_max_workers() -> None:
    assert _load({"max_workers": 40}).worker_concurrency == 80


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"fault_stop_error_rate_pct": 50}, "fault_stop_error_rate_pct must be above"),
        ({"fault_throttle_percentage": 96}, "fault_stop_error_rate_pct must be above"),
        ({"fault_stop_p99_ms": 10_500}, "fault_stop_p99_ms must be above"),
        ({"fault_delay_ms": 25_000}, "fault_stop_p99_ms must be above"),
        ({"reference_target_bedrock": True,
          "bedrock_model_id": "anthropic.claude-3-haiku-20240307-v1:0"},
         "bedrock_model_id must be an Amazon Nova model"),
    ],
)
def test_fault_stops_and_the_bedrock_model_are_checked(
    raw: dict[str, Any], expected: str
) -> None:
    # A stop condition the fault itself trips would end every experiment within minutes
    with pytest.raises(SystemExit) as refused:
        _load(raw)
    assert expected in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"max_workers": 50, "worker_reserved_concurrency": 99}, "at least twice max_workers"),
        ({"warning_error_rate_pct": 2}, "warning_error_rate_pct must be below"),
        ({"warning_p99_ms": 20_000}, "warning_p99_ms must be below"),
        ({"log_retention_days": 31}, "log_retention_days must be one of"),
        (
            {"platform_function_arns": {"geo": "arn:aws:lambda:us-east-1:1:function:x"}},
            "context key 'platform_function_arns.geo'",
        ),
        ({"alert_email": "not-an-address"}, "context key 'alert_email'"),
        (
            {"platform_function_arns": {"all": "arn:aws:lambda:us-east-1:123456789012:function:x"}},
            "'all' names the templates",
        ),
        ({"watched_metrics": [{"namespace": "AWS/Lambda"}]}, "watched_metrics.0.metric"),
    ],
)
def test_bad_platform_or_safety_context_names_the_key(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load(raw)

    assert expected in str(exit_info.value.code)
