"""The synthesized stack: one offline synthesis, its resources, and CloudFormation intrinsics
resolved against the emulated resources' names and ARNs."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
URL_SUFFIX = "amazonaws.com"

# The reference service's agents stand in for the platform's functions, so the fault templates
# exist (one per fault type and agent) and FIS actions name a function that maps to an agent.
AGENTS = ("transaction_analysis", "pattern_velocity", "geographic_risk", "compliance")


def agent_function_arn(agent: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:reference-{agent.replace('_', '-')}"


def emulation_context() -> dict[str, Any]:
    """cdk.json's context, plus the platform under test: the reference service's agents."""
    from stacks.context import read_cdk_json_context

    context = read_cdk_json_context(ROOT / "cdk.json")
    context["platform_function_arns"] = {agent: agent_function_arn(agent) for agent in AGENTS}
    context["deploy_reference_target"] = False
    return context


class TemplateError(RuntimeError):
    """The template asks for something the emulation cannot resolve (one line)."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    depends_on: tuple[str, ...] = ()


@dataclass
class SynthesizedStack:
    """A stack's template as synthesized, and the assembly folder holding its assets."""

    name: str
    template: dict[str, Any]
    outdir: Path

    @property
    def resources(self) -> dict[str, Resource]:
        found = {}
        for logical_id, body in self.template["Resources"].items():
            depends = body.get("DependsOn", [])
            found[logical_id] = Resource(
                logical_id, body["Type"], body.get("Properties", {}),
                tuple([depends] if isinstance(depends, str) else depends))
        return found

    def of_type(self, kind: str) -> dict[str, Resource]:
        return {lid: r for lid, r in self.resources.items() if r.type == kind}

    def asset(self, key: str) -> Path:
        """An asset file by its object key (hash + extension), as the assembly holds it."""
        path = self.outdir / f"asset.{key}"
        if path.exists():
            return path
        unpacked = self.outdir / f"asset.{key.rsplit('.', 1)[0]}"
        if unpacked.exists():
            return unpacked
        raise TemplateError(f"asset {key} is not in {self.outdir}")


def synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> SynthesizedStack:
    """`python app.py` with the emulation's context, offline, into `outdir`."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    import aws_cdk as cdk

    import app as cdk_app
    from stacks.stresslab_stack import StresslabStack

    app = cdk.App(outdir=str(outdir), context=dict(context or emulation_context()))
    stacks = cdk_app.build(app)
    stack = next(s for s in stacks if isinstance(s, StresslabStack))
    assembly = app.synth()
    path = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
    return SynthesizedStack(stack.stack_name, json.loads(path.read_text()), outdir)


class Unresolved(LookupError):
    """A reference to a resource not created yet."""


@dataclass
class Names:
    """What Ref and Fn::GetAtt give for each emulated resource."""

    stack_name: str
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
            "AWS::URLSuffix": URL_SUFFIX, "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/"
                            f"{self.stack_name}/00000000-0000-4000-8000-000000000000",
            "AWS::NoValue": "",
        }

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.refs:
            raise Unresolved(name)
        return self.refs[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attrs:
            raise Unresolved(f"{logical_id}.{attribute}")
        return self.attrs[(logical_id, attribute)]


_SUB = re.compile(r"\$\{([^}!]+)\}")


def resolve(value: Any, names: Names, parameters: Mapping[str, str] | None = None) -> Any:
    """The value with every intrinsic function replaced by what CloudFormation would put."""
    parameters = parameters or {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(arg, walk, names, parameters)
        return {key: walk(item) for key, item in node.items()}

    return walk(value)


def _ref(arg: str, walk: Any, names: Names, parameters: Mapping[str, str]) -> str:
    return parameters[arg] if arg in parameters else names.ref(arg)


def _get_att(arg: Any, walk: Any, names: Names, parameters: Mapping[str, str]) -> str:
    logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else walk(arg)
    return names.get_att(logical_id, attribute)


def _join(arg: Any, walk: Any, names: Names, parameters: Mapping[str, str]) -> str:
    separator, parts = arg
    return str(separator).join(str(p) for p in walk(parts))


def _sub(arg: Any, walk: Any, names: Names, parameters: Mapping[str, str]) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], walk(arg[1]))

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return names.get_att(logical_id, attribute)
        return _ref(name, walk, names, parameters)

    return _SUB.sub(one, text)


def _select(arg: Any, walk: Any, names: Names, parameters: Mapping[str, str]) -> Any:
    index, items = walk(arg)
    return items[int(index)]


def _split(arg: Any, walk: Any, names: Names, parameters: Mapping[str, str]) -> list[str]:
    separator, text = walk(arg)
    return str(text).split(separator)


_INTRINSICS: dict[str, Callable[[Any, Any, Names, Mapping[str, str]], Any]] = {
    "Ref": _ref, "Fn::GetAtt": _get_att, "Fn::Join": _join, "Fn::Sub": _sub,
    "Fn::Select": _select, "Fn::Split": _split,
}
