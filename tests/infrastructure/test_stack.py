"""Infrastructure tests: properties of the synthesized stresslab stack, cdk-nag and cfn-lint."""

from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint

from stacks.constructs.metrics_stream import MetricsStream
from tests.infrastructure.conftest import SynthesizedApp

# The stack is environment-agnostic, so lint it against a few regions it may be deployed to.
LINT_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]

# CloudFormation types that take no Tags property; every other resource must be tagged.
UNTAGGABLE_TYPES = {"AWS::S3::BucketPolicy", "AWS::CDK::Metadata"}


def _resources(template: Template, resource_type: str, props: Any = None) -> dict[str, Any]:
    return template.find_resources(resource_type, {"Properties": props} if props else None)


def _results_bucket_id(template: Template) -> str:
    (bucket_id,) = _resources(
        template, "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )
    return bucket_id


def test_every_bucket_is_encrypted_private_and_owner_enforced(synthesized: SynthesizedApp) -> None:
    # Given the synthesized template
    template = synthesized.template

    # Then both buckets (results and access logs) are encrypted and fully private
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )


def test_every_bucket_policy_denies_requests_without_tls(synthesized: SynthesizedApp) -> None:
    policies = _resources(synthesized.template, "AWS::S3::BucketPolicy")

    assert len(policies) == 2
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
    bucket_id = _results_bucket_id(template)

    bucket = template.to_json()["Resources"][bucket_id]
    assert bucket["DeletionPolicy"] == "Retain"
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
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
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


def test_access_log_bucket_only_admits_log_delivery_for_the_results_bucket(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template
    results_bucket_id = _results_bucket_id(template)

    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": Match.object_like(
                                    {
                                        "ArnLike": {
                                            "aws:SourceArn": {
                                                "Fn::GetAtt": [results_bucket_id, "Arn"]
                                            }
                                        }
                                    }
                                ),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_metrics_stream_is_on_demand_kms_encrypted_with_context_retention(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template

    template.resource_count_is("AWS::Kinesis::Stream", 1)
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            "RetentionPeriodHours": 24,
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "ShardCount": Match.absent(),
        },
    )


def test_outputs_publish_bucket_and_stream(synthesized: SynthesizedApp) -> None:
    template = synthesized.template
    bucket_id = _results_bucket_id(template)
    (stream_id,) = _resources(template, "AWS::Kinesis::Stream")

    template.has_output("ResultsBucketName", {"Value": {"Ref": bucket_id}})
    template.has_output("MetricsStreamName", {"Value": {"Ref": stream_id}})
    template.has_output("MetricsStreamArn", {"Value": {"Fn::GetAtt": [stream_id, "Arn"]}})


def test_every_taggable_resource_carries_the_project_tag(synthesized: SynthesizedApp) -> None:
    resources = synthesized.template.to_json()["Resources"]
    taggable = {
        name: resource
        for name, resource in resources.items()
        if resource["Type"] not in UNTAGGABLE_TYPES
    }

    assert taggable
    for name, resource in taggable.items():
        tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"].get("Tags", [])}
        assert tags.get("project") == "stresslab", name
        assert tags.get("env") == "dev", name


def test_no_unacknowledged_cdk_nag_errors(synthesized: SynthesizedApp) -> None:
    assert synthesized.nag_errors == [], "\n".join(synthesized.nag_errors)


def test_no_unacknowledged_cdk_nag_warnings(synthesized: SynthesizedApp) -> None:
    assert synthesized.nag_warnings == [], "\n".join(synthesized.nag_warnings)


def test_cfn_lint_finds_nothing_in_the_synthesized_template(synthesized: SynthesizedApp) -> None:
    # Given the template file exactly as the cloud assembly holds it
    text = synthesized.template_path.read_text(encoding="utf-8")

    # When cfn-lint checks it against several regions
    matches = lint(text, regions=LINT_REGIONS)

    # Then it reports neither errors nor warnings
    assert matches == [], "\n".join(f"{m.rule.id}:{m.linenumber} {m.message}" for m in matches)


def test_provisioned_mode_sets_the_shard_count() -> None:
    # Given a metrics stream built from a provisioned context
    stack = cdk.Stack(cdk.App())
    MetricsStream(stack, "MetricsStream", mode="provisioned", shard_count=4, retention_hours=48)

    # Then the stream is provisioned with that many shards
    Template.from_stack(stack).has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 4,
            "RetentionPeriodHours": 48,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        },
    )
