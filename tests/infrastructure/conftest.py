"""Synthesizes the CDK app once per test session and shares its templates and cdk-nag findings."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from stacks.context import read_cdk_json_context
from stacks.reference_target_stack import ReferenceTargetStack
from stacks.stresslab_stack import StresslabStack

ROOT = Path(__file__).resolve().parents[2]

# cdk.json as `python app.py` reads it, plus what a team testing its own platform sets: eight
# platform functions (a large platform: every function's environment must still fit), extra
# watched metrics, a platform stream and its consumer's role, two tables and two subnets (so
# every kind of fault template exists), an alert address and the reference-target stack. One
# synthesis then covers every construct.
TEST_CONTEXT: dict[str, Any] = {
    "platform_function_arns": {
        "orchestrator": "arn:aws:lambda:us-east-1:123456789012:function:fraud-orchestrator",
        "geographic_risk": "arn:aws:lambda:us-east-1:123456789012:function:fraud-geo-risk",
        "transaction_analysis":
            "arn:aws:lambda:us-east-1:123456789012:function:fraud-transaction-analysis",
        "pattern_velocity": "arn:aws:lambda:us-east-1:123456789012:function:fraud-pattern-velocity",
        "compliance": "arn:aws:lambda:us-east-1:123456789012:function:fraud-compliance",
        "merchant_risk": "arn:aws:lambda:us-east-1:123456789012:function:fraud-merchant-risk",
        "device_fingerprint":
            "arn:aws:lambda:us-east-1:123456789012:function:fraud-device-fingerprint",
        "case_manager": "arn:aws:lambda:us-east-1:123456789012:function:fraud-case-manager",
    },
    "watched_metrics": [
        {"namespace": "AWS/Bedrock", "metric": "InvocationThrottles",
         "dimensions": {"ModelId": "amazon.nova-micro-v1:0"}, "label": "Bedrock throttles"},
        {"namespace": "AWS/DynamoDB", "metric": "ThrottledRequests",
         "dimensions": {"TableName": "decisions"}, "label": "decisions throttled"},
    ],
    "target_stream_arns": ["arn:aws:kinesis:us-east-1:123456789012:stream/transactions"],
    "target_stream_consumer_roles": {
        "arn:aws:kinesis:us-east-1:123456789012:stream/transactions":
            "arn:aws:iam::123456789012:role/fraud-orchestrator",
    },
    "platform_table_names": ["decisions", "card-history"],
    "platform_subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
    "alert_email": "oncall@example.com",
    "deploy_reference_target": True,
}


@dataclass(frozen=True)
class SynthesizedApp:
    """The stacks as `python app.py` builds them, and what synthesis produced."""

    stack: StresslabStack
    template: Template
    template_path: Path
    reference_stack: ReferenceTargetStack
    reference_template: Template
    reference_template_path: Path
    outdir: Path
    nag_errors: list[str]
    nag_warnings: list[str]

    @property
    def template_paths(self) -> list[Path]:
        return [self.template_path, self.reference_template_path]


def _nag_findings(stacks: list[cdk.Stack]) -> dict[str, list[str]]:
    # A separate pack instance reads the same acknowledgements as the one app.py registers,
    # and reports findings instead of failing synthesis, so tests can print them.
    findings: dict[str, list[str]] = {"error": [], "warning": []}
    for stack in stacks:
        report = AwsSolutionsChecks(verbose=True).validate_scope(stack)
        for violation in report.violations:
            for resource in violation.violating_resources:
                findings.setdefault(violation.severity or "error", []).append(
                    f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
                )
    return findings


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    outdir = tmp_path_factory.mktemp("cdk.out")
    context = {**read_cdk_json_context(ROOT / "cdk.json"), **TEST_CONTEXT}
    app = cdk.App(outdir=str(outdir), context=context)
    stack, reference = cdk_app.build(app)
    assert isinstance(stack, StresslabStack) and isinstance(reference, ReferenceTargetStack)
    findings = _nag_findings([stack, reference])
    try:
        assembly = app.synth()
    except RuntimeError as error:
        pytest.fail(f"{error}\n" + "\n".join(findings["error"]), pytrace=False)

    def template_path(of: cdk.Stack) -> Path:
        return Path(assembly.get_stack_artifact(of.artifact_id).template_full_path)

    return SynthesizedApp(
        stack=stack,
        template=Template.from_stack(stack),
        template_path=template_path(stack),
        reference_stack=reference,
        reference_template=Template.from_stack(reference),
        reference_template_path=template_path(reference),
        outdir=outdir,
        nag_errors=findings["error"],
        nag_warnings=findings["warning"],
    )
