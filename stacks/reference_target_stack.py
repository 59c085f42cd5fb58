"""ReferenceTargetStack: the optional stack that deploys the reference fraud service."""

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.constructs.reference_target import ReferenceTarget
from stacks.context import StresslabContext
from stacks.nag import acknowledge_wildcards
from stacks.packaging import StagedAsset
from stacks.retention import log_retention
from stacks.stresslab_stack import apply_project_tags, build_functions


class ReferenceTargetStack(Stack):
    """The reference service behind its own HTTP API; its URL is a run's `target_url`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        context: StresslabContext,
        lambda_asset: StagedAsset,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = log_retention(context.log_retention_days)
        functions = build_functions(self, context, lambda_asset, retention)
        self.target = ReferenceTarget(
            self,
            "ReferenceTarget",
            functions=functions,
            bedrock_enabled=context.reference_target_bedrock,
            bedrock_model_id=context.bedrock_model_id,
            reserved_concurrency=context.reference_target_concurrency,
            log_retention=retention,
        )
        CfnOutput(self, "ReferenceTargetUrl", value=self.target.url)
        # The secret's ARN: a run's target_api_key_secret. The key itself is in no output.
        CfnOutput(self, "ReferenceTargetKeySecretArn", value=self.target.key_secret.secret_arn)
        apply_project_tags(self, context.env_name)
        acknowledge_wildcards(self)
