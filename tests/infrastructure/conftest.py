"""Synthesizes the CDK app once per test session and shares its template and cdk-nag findings."""

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from stacks.context import read_cdk_json_context
from stacks.stresslab_stack import StresslabStack

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SynthesizedApp:
    """The stack as `python app.py` builds it from cdk.json, and what synthesis produced."""

    stack: StresslabStack
    template: Template
    template_path: Path
    nag_errors: list[str]
    nag_warnings: list[str]


def _nag_findings(stack: cdk.Stack) -> dict[str, list[str]]:
    # A separate pack instance reads the same acknowledgements as the one app.py registers,
    # and reports findings instead of failing synthesis, so tests can print them.
    report = AwsSolutionsChecks(verbose=True).validate_scope(stack)
    findings: dict[str, list[str]] = {"error": [], "warning": []}
    for violation in report.violations:
        for resource in violation.violating_resources:
            findings.setdefault(violation.severity or "error", []).append(
                f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
            )
    return findings


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context=read_cdk_json_context(ROOT / "cdk.json"))
    stack = cdk_app.build(app)
    findings = _nag_findings(stack)
    try:
        assembly = app.synth()
    except RuntimeError as error:
        pytest.fail(f"{error}\n" + "\n".join(findings["error"]), pytrace=False)
    return SynthesizedApp(
        stack=stack,
        template=Template.from_stack(stack),
        template_path=Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path),
        nag_errors=findings["error"],
        nag_warnings=findings["warning"],
    )
