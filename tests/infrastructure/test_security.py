"""Infrastructure tests: least privilege, bucket policies, tags, cdk-nag and cfn-lint."""

import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match
from cfnlint.api import ManualArgs, lint
from constructs import IConstruct

from stacks.nag import CDK_BUCKET_DEPLOYMENT, unscoped_actions_on_any_resource
from tests.infrastructure.conftest import SynthesizedApp

# The stacks are environment-agnostic, so lint them against a few regions they may be deployed to.
LINT_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]

# W3005: CDK makes every function depend on its role explicitly although the Role property
# already does (GetAtt); the duplicate is harmless and not ours to remove.
LINT_IGNORED = ["W3005"]

_SENTENCE_END = re.compile(r"[.!?](\s+|$)")


def _policies(synthesized: SynthesizedApp) -> list[tuple[str, dict[str, Any]]]:
    return [
        (policy.node.path, stack.resolve(policy.policy_document))
        for stack in (synthesized.stack, synthesized.reference_stack)
        for policy in stack.node.find_all()
        if isinstance(policy, (iam.CfnPolicy, iam.CfnManagedPolicy))
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_allows_every_action_of_a_service(synthesized: SynthesizedApp) -> None:
    for path, document in _policies(synthesized):
        for statement in document["Statement"]:
            for action in _as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{path}: {action}"


def test_our_policies_name_actions_and_scope_resources(synthesized: SynthesizedApp) -> None:
    # Given every IAM policy except the one aws-cdk-lib gives its BucketDeployment handler
    ours = [(p, d) for p, d in _policies(synthesized) if not CDK_BUCKET_DEPLOYMENT.search(p)]
    assert len(ours) > 10

    for path, document in ours:
        for statement in document["Statement"]:
            actions = _as_list(statement["Action"])
            # Then no action is a wildcard
            assert not [a for a in actions if "*" in a], path
        # and Resource "*" is only for actions that accept nothing else, or that their service
        # documents on "*" held by a condition naming the resources
        assert unscoped_actions_on_any_resource(document) == set(), path


def test_metric_publishing_is_held_to_the_stacks_namespace(synthesized: SynthesizedApp) -> None:
    statements = [
        statement
        for _, document in _policies(synthesized)
        for statement in document["Statement"]
        if "cloudwatch:PutMetricData" in _as_list(statement["Action"])
    ]

    assert statements
    for statement in statements:
        assert statement["Condition"] == {
            "StringEquals": {"cloudwatch:namespace": "stresslab/dev"}
        }


def test_every_bucket_policy_denies_requests_without_tls(synthesized: SynthesizedApp) -> None:
    policies = synthesized.template.find_resources("AWS::S3::BucketPolicy")
    buckets = synthesized.template.find_resources("AWS::S3::Bucket")

    assert len(policies) == len(buckets)
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
        }.items() <= next(s for s in statements if s["Effect"] == "Deny").items()


def test_results_bucket_is_versioned_expires_reports_and_logs_access(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    (bucket_id,) = template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
    )

    assert template.to_json()["Resources"][bucket_id]["DeletionPolicy"] == "Retain"
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Status": "Enabled",
                            "ExpirationInDays": 90,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                        }
                    )
                ]
            },
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": Match.string_like_regexp("AccessLogBucket")},
                "LogFilePrefix": "results-bucket/",
            },
        },
    )


def test_every_other_bucket_logs_to_the_access_log_bucket(synthesized: SynthesizedApp) -> None:
    buckets = synthesized.template.find_resources("AWS::S3::Bucket")
    log_bucket = next(key for key in buckets if "AccessLogBucket" in key)

    for key, bucket in buckets.items():
        if key != log_bucket:
            logging = bucket["Properties"]["LoggingConfiguration"]
            assert logging["DestinationBucketName"] == {"Ref": log_bucket}, key


def test_every_taggable_resource_carries_the_project_tags(synthesized: SynthesizedApp) -> None:
    for stack in (synthesized.stack, synthesized.reference_stack):
        taggable = [
            c for c in stack.node.find_all()
            if cdk.CfnResource.is_cfn_resource(c) and cdk.TagManager.is_taggable(c)
        ]
        assert taggable
        for resource in taggable:
            tags = cdk.TagManager.of(resource)
            assert tags is not None
            values = tags.tag_values()
            assert values.get("project") == "stresslab", resource.node.path
            assert values.get("env") == "dev", resource.node.path


def test_no_unacknowledged_cdk_nag_errors(synthesized: SynthesizedApp) -> None:
    assert synthesized.nag_errors == [], "\n".join(synthesized.nag_errors)


def test_no_unacknowledged_cdk_nag_warnings(synthesized: SynthesizedApp) -> None:
    assert synthesized.nag_warnings == [], "\n".join(synthesized.nag_warnings)


def test_every_acknowledgement_is_justified_in_one_sentence(synthesized: SynthesizedApp) -> None:
    acknowledgements = [
        (construct.node.path, rule, reason)
        for stack in (synthesized.stack, synthesized.reference_stack)
        for construct in [stack, *stack.node.find_all()]
        for rule, reason in _acknowledged(construct).items()
    ]

    assert acknowledgements
    for path, rule, reason in acknowledgements:
        assert rule.startswith("AwsSolutions-"), (path, rule)
        assert len(_SENTENCE_END.findall(reason)) == 1 and reason.endswith("."), (path, reason)


def test_cfn_lint_finds_nothing_in_the_synthesized_templates(synthesized: SynthesizedApp) -> None:
    for template_path in synthesized.template_paths:
        # Given the template file exactly as the cloud assembly holds it
        text = template_path.read_text(encoding="utf-8")

        # When cfn-lint checks it against several regions
        matches = lint(
            text, config=ManualArgs(regions=LINT_REGIONS, ignore_checks=LINT_IGNORED)
        )

        # Then it reports neither errors nor warnings
        assert matches == [], "\n".join(
            f"{template_path.name} {m.rule.id}:{m.linenumber} {m.message}" for m in matches
        )


def _acknowledged(construct: IConstruct) -> dict[str, str]:
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[str, str] = {}
    for entry in construct.node.metadata:
        if entry.type == key and isinstance(entry.data, dict):
            found.update(
                {re.sub(r"^annotation::", "", k, flags=re.I): str(v) for k, v in entry.data.items()}
            )
    return found
