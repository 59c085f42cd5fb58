"""CDK entry point: read the typed context, build the stresslab stacks, apply cdk-nag."""

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.context import load_context, read_cdk_json_context
from stacks.packaging import StagingError, stage_lambda_asset
from stacks.reference_target_stack import ReferenceTargetStack
from stacks.stresslab_stack import SourcePaths, StresslabStack

ROOT = Path(__file__).resolve().parent

# Outside the assembly that the CDK CLI or a test writes, so staged wheels outlive both.
STAGING_DIR = ROOT / "cdk.out" / ".staging"


def build(app: cdk.App) -> list[cdk.Stack]:
    """Add the stresslab stacks to `app` and check them with cdk-nag's AWS Solutions rules."""
    context = load_context(app.node)
    try:
        asset = stage_lambda_asset(ROOT, STAGING_DIR)
    except StagingError as error:
        raise SystemExit(str(error)) from None
    stacks: list[cdk.Stack] = [
        StresslabStack(
            app,
            context.stack_name,
            context=context,
            sources=SourcePaths(
                lambda_asset=asset,
                state_machine_definition=ROOT / "step_functions" / "run_scenario.asl.json",
                dashboard_site=ROOT / "dashboard_site" / "dist",
            ),
            description="stresslab: stress-testing runtime for transaction-scoring systems",
        )
    ]
    if context.deploy_reference_target:
        stacks.append(
            ReferenceTargetStack(
                app,
                context.reference_target_stack_name,
                context=context,
                lambda_asset=asset,
                description="stresslab: reference fraud-detection service to run scenarios against",
            )
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stacks


def main() -> None:
    # The cdk CLI passes cdk.json's context and CDK_OUTDIR itself; these defaults make a
    # plain `python app.py` synthesize the same assembly into ./cdk.out.
    app = cdk.App(
        outdir=os.environ.get("CDK_OUTDIR", str(ROOT / "cdk.out")),
        context=read_cdk_json_context(ROOT / "cdk.json"),
    )
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
