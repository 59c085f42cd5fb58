"""CDK entry point: read the typed context, build the stresslab stack, apply cdk-nag."""

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.context import load_context, read_cdk_json_context
from stacks.stresslab_stack import StresslabStack

ROOT = Path(__file__).resolve().parent


def build(app: cdk.App) -> StresslabStack:
    """Add the stresslab stack to `app` and check it with cdk-nag's AWS Solutions rules."""
    context = load_context(app.node)
    stack = StresslabStack(
        app,
        context.stack_name,
        context=context,
        description="stresslab: stress-testing runtime for transaction-scoring systems",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


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
