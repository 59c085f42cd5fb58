"""Secret references: resolved through an injected resolver, masked in every output."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import boto3
import orjson
import pytest
from moto import mock_aws

from stresslab.targets.aws_secrets import AwsSecretResolver
from stresslab.targets.secrets import (
    SecretError,
    SecretMasker,
    Secrets,
    chain_resolvers,
    check_references,
    environment_resolver,
)

KEY = "k3y/with+odd&chars=é"


def test_env_references_resolve_from_the_injected_environment() -> None:
    secrets = Secrets(environment_resolver({"FRAUD_API_KEY": KEY}))
    assert secrets.resolve("${env:FRAUD_API_KEY}") == KEY
    assert secrets.resolve("Key ${env:FRAUD_API_KEY}!") == f"Key {KEY}!"
    assert secrets.resolve("no reference") == "no reference"


def test_resolve_tree_keeps_the_structure() -> None:
    secrets = Secrets(environment_resolver({"A": "1", "B": "2"}))
    assert secrets.resolve_tree({"h": {"x": "${env:A}", "y": ["${env:B}", 3]}}) == {
        "h": {"x": "1", "y": ["2", 3]}
    }


@pytest.mark.parametrize(("text", "message"), [
    ("${env:MISSING_ONE}", "environment variable MISSING_ONE is not set"),
    ("${ssm:/fraud/key}", "${ssm:/fraud/key} can be resolved only on AWS"),
    ("${vault:x}",
     "unknown secret source 'vault' in ${vault:…} (use one of env, secretsmanager, ssm)"),
    ("${env:}", "${env:} names no secret"),
    ("${env:A", "a '${' that is not a secret reference such as ${env:NAME}"),
])
def test_unresolvable_references_are_one_line_naming_them(text: str, message: str) -> None:
    with pytest.raises(SecretError) as caught:
        Secrets(environment_resolver({})).resolve(text)
    assert str(caught.value) == message


def test_check_references_needs_no_resolver() -> None:
    check_references("${env:A} and ${secretsmanager:prod/fraud} and ${ssm:/x/y}")


def test_every_resolved_value_is_masked_in_any_form_it_is_sent_in() -> None:
    secrets = Secrets(environment_resolver({"K": KEY, "OTHER": "short"}))
    secrets.resolve("${env:K}")
    text = (f"header {KEY}; form {quote_plus(KEY)}; url {quote(KEY, safe='')}; "
            f"json {orjson.dumps({'k': KEY}).decode()}; unrelated short")
    masked = secrets.masker.mask(text)
    assert "k3y" not in masked
    assert masked == 'header ***; form ***; url ***; json {"k":"***"}; unrelated short'


def test_a_secret_containing_another_is_masked_whole() -> None:
    masker = SecretMasker()
    masker.add("abc")
    masker.add("xxabcxx")
    assert masker.mask("[xxabcxx] [abc]") == "[***] [***]"
    assert masker.mask_bytes(b"xxabcxx") == "***"


def test_nothing_to_mask_leaves_text_alone() -> None:
    assert SecretMasker().mask("plain") == "plain"


def test_env_first_then_aws() -> None:
    asked: list[tuple[str, str]] = []

    def aws(source: str, name: str) -> str:
        asked.append((source, name))
        return "from-aws"

    resolve = chain_resolvers({"A": "local"}, aws)
    assert resolve("env", "A") == "local"
    assert resolve("ssm", "/p") == "from-aws"
    assert asked == [("ssm", "/p")]


@mock_aws
def test_secrets_manager_and_ssm_through_boto3() -> None:
    session = boto3.Session(region_name="us-east-1")
    session.client("secretsmanager").create_secret(Name="prod/fraud-key", SecretString=KEY)
    session.client("ssm").put_parameter(Name="/fraud/key", Value="p4ram", Type="SecureString")
    secrets = Secrets(chain_resolvers({}, AwsSecretResolver(session)))
    assert secrets.resolve("${secretsmanager:prod/fraud-key}") == KEY
    assert secrets.resolve("${ssm:/fraud/key}") == "p4ram"
    assert secrets.masker.mask(f"{KEY} p4ram") == "*** ***"
    with pytest.raises(SecretError) as caught:
        secrets.resolve("${ssm:/fraud/none}")
    assert str(caught.value) == "${ssm:/fraud/none} cannot be read: ParameterNotFound"
    with pytest.raises(SecretError) as caught:
        secrets.resolve("${secretsmanager:nope}")
    assert str(caught.value) == "${secretsmanager:nope} cannot be read: ResourceNotFoundException"
