"""SecretPolicy: which secret references a run may name, checked over any structure."""

from __future__ import annotations

import pytest

from stresslab.targets.secrets import (
    NameRule,
    SecretError,
    SecretPolicy,
    api_secret_policy,
    aws_secret_policy,
)


def test_the_api_policy_allows_the_named_variables_and_the_prefix_only() -> None:
    policy = api_secret_policy(("PARTNER_KEY",))
    assert policy.allows("env", "PARTNER_KEY") and policy.allows("env", "STRESSLAB_TARGET_X")
    assert not policy.allows("env", "PARTNER_KEY_2")
    assert not policy.allows("env", "AWS_SECRET_ACCESS_KEY")
    assert not policy.allows("secretsmanager", "PARTNER_KEY")


@pytest.mark.parametrize("data", [
    "Bearer ${env:HOME}",
    {"headers": {"X-Key": "${env:HOME}"}},
    {"headers": {"${env:HOME}": "v"}},  # a header's name too
    ["fine", {"body": {"nested": ["${env:HOME}"]}}],
])
def test_a_reference_anywhere_in_the_structure_is_found(data: object) -> None:
    with pytest.raises(SecretError, match=r"^target secret \$\{env:HOME\} is not allowed for runs "
                                          r"started over the API; start the server with "
                                          r"--allow-secret HOME$"):
        api_secret_policy(()).check(data)


def test_allowed_references_and_plain_text_pass() -> None:
    api_secret_policy(("K",)).check(
        {"a": "${env:K}", "b": [1, None, "x ${env:STRESSLAB_TARGET_Y}"]})
    SecretPolicy({"env": NameRule(frozenset({"K"}))}).check("no references at all")


def test_a_source_without_a_rule_is_never_allowed() -> None:
    policy = aws_secret_policy("stresslab/targets/")
    assert policy.allows("secretsmanager", "stresslab/targets/partner")
    assert not policy.allows("secretsmanager", "stresslab/other")
    assert not policy.allows("ssm", "stresslab/targets/partner")
    assert not policy.allows("env", "STRESSLAB_TARGET_X")
