"""StoreThrottle: the SSM Automation runbook that throttles the platform's DynamoDB tables.

FIS has no DynamoDB throttling action, so the slow_store templates start this runbook with
aws:ssm:start-automation-execution: it lowers a table's provisioned capacity (or, on demand, its
maximum throughput), holds it, and restores it when the hold ends, fails or is cancelled.
"""

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.runbooks import store_throttle

SCRIPT = Path(store_throttle.__file__).read_text(encoding="utf-8")
SCRIPT_RUNTIME = "python3.11"

# Each aws:executeScript step may run 600 s; the restore is tried three times.
RUNBOOK_OVERHEAD = timedelta(minutes=40)


class StoreThrottle(Construct):
    """The runbook (an Automation document) and the role it runs as, limited to the tables."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_names: Sequence[str],
        units: int,
        hold: timedelta,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._units = units
        self._hold = hold
        self.table_arns = {
            name: stack.format_arn(service="dynamodb", resource="table", resource_name=name)
            for name in table_names
        }
        self.role = self._build_role()
        self.document = ssm.CfnDocument(
            self,
            "Runbook",
            document_type="Automation",
            document_format="JSON",
            content=_runbook(),
        )
        self.document_arn = stack.format_arn(
            service="ssm", resource="document", resource_name=self.document.ref
        )

    @property
    def max_duration(self) -> timedelta:
        """How long one execution may take: the hold plus lowering and restoring."""
        return self._hold + RUNBOOK_OVERHEAD

    def parameters(self, table_name: str) -> str:
        """The documentParameters of an execution on one table (JSON, string values)."""
        return Stack.of(self).to_json_string(
            {
                "TableName": table_name,
                "Units": str(self._units),
                "HoldDuration": iso_duration(self._hold),
                "AutomationAssumeRole": self.role.role_arn,
            }
        )

    def grant_start(self, role: iam.IRole) -> None:
        """What an FIS experiment role needs to run this runbook and stop it."""
        stack = Stack.of(self)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:StartAutomationExecution"],
                resources=[
                    stack.format_arn(
                        service="ssm",
                        resource="automation-definition",
                        resource_name=f"{self.document.ref}:*",
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:GetAutomationExecution", "ssm:StopAutomationExecution"],
                resources=[
                    stack.format_arn(
                        service="ssm", resource="automation-execution", resource_name="*"
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}},
            )
        )

    def _build_role(self) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "AutomationRole",
            assumed_by=iam.ServicePrincipal(
                "ssm.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="ssm", resource="automation-execution", resource_name="*"
                        )
                    },
                },
            ),
            description="stresslab slow_store runbook: lowers and restores the platform's tables",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                resources=list(self.table_arns.values()),
            )
        )
        return role


def iso_duration(span: timedelta) -> str:
    """An ISO 8601 duration of whole minutes, as FIS and SSM take them (PT2H40M)."""
    hours, minutes = divmod(int(span.total_seconds()) // 60, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


def _runbook() -> dict[str, Any]:
    def script_step(name: str, handler: str) -> dict[str, Any]:
        return {
            "name": name,
            "action": "aws:executeScript",
            "inputs": {
                "Runtime": SCRIPT_RUNTIME,
                "Handler": handler,
                "InputPayload": {"TableName": "{{ TableName }}", "Units": "{{ Units }}"},
                "Script": SCRIPT,
            },
        }

    # Every step before the restore falls through to it on failure or cancel (FIS stopping the
    # experiment cancels the execution); a failed throttle still fails the execution, since
    # steps are critical by default.
    to_restore = {"onFailure": "step:Restore", "onCancel": "step:Restore"}
    return {
        "schemaVersion": "0.3",
        "description": (
            "stresslab slow_store: hold a DynamoDB table's provisioned capacity (or on-demand "
            "maximum throughput) at Units for HoldDuration, then restore it."
        ),
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "TableName": {"type": "String", "description": "The table to throttle."},
            "Units": {
                "type": "String",
                "description": "Read and write units to hold the table at (never raised).",
            },
            "HoldDuration": {
                "type": "String",
                "description": "ISO 8601 duration of the hold if nothing stops it first.",
            },
            "AutomationAssumeRole": {
                "type": "String",
                "description": "The role the runbook runs as.",
            },
        },
        "mainSteps": [
            {**script_step("Throttle", "throttle"), **to_restore, "nextStep": "Hold"},
            {
                "name": "Hold",
                "action": "aws:sleep",
                "inputs": {"Duration": "{{ HoldDuration }}"},
                **to_restore,
                "nextStep": "Restore",
            },
            {**script_step("Restore", "restore"), "maxAttempts": 3, "isEnd": True},
        ],
    }
