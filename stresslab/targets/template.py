"""Request templates: `request.body` compiled once into a function transaction -> body bytes.

The template is turned into one Python expression (dict/list displays, item lookups, filter
calls) and compiled, so a request costs what building the dict by hand would; nothing is
interpreted per request. Keys and constants never enter the source: they are bound as names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_WHOLE = re.compile(r"\s*\{\{(.*?)\}\}\s*", re.DOTALL)
_PATH_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SAMPLE_TRANSACTIONS = 400  # enough for every shape the generator makes (e.g. no device)

RenderBody = Callable[[Mapping[str, Any]], bytes]


class TemplateError(ValueError):
    """A request template that cannot be compiled. The message is one line naming the place."""

    def __init__(self, place: str, problem: str) -> None:
        super().__init__(f"{place}: {problem}" if place else problem)
        self.place = place
        self.problem = problem


def _child(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@lru_cache(maxsize=256)
def _epoch_second(prefix: str) -> int:
    return int(datetime.fromisoformat(prefix).replace(tzinfo=UTC).timestamp())


def _epoch_ms(value: Any) -> int:
    if isinstance(value, str):
        # the generator's form, 2026-01-01T00:00:01.250Z: one parse per second, not per request
        if len(value) == 24 and value[19] == "." and value[23] == "Z":
            return _epoch_second(value[:19]) * 1000 + int(value[20:23])
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # no offset: UTC, never this machine's zone
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1000)
    raise ValueError(f"epoch_ms needs a timestamp, got {type(value).__name__}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


FILTERS: dict[str, Callable[[Any], Any]] = {
    "epoch_ms": _epoch_ms,
    "upper": lambda value: _text(value).upper(),
    "lower": lambda value: _text(value).lower(),
    "str": _text,
}


def _dig(transaction: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """A path under an optional object (e.g. device, absent for some transactions): None."""
    value: Any = transaction
    for key in keys:
        if value is None:
            return None
        value = value[key]
    return value


@lru_cache(maxsize=1)
def generated_samples() -> tuple[Mapping[str, Any], ...]:
    """Transactions as the generator makes them: the shape templates are checked against."""
    from stresslab.generation.transactions import TransactionFactory

    factory = TransactionFactory("sample", 0, 0)
    return tuple(factory.next(1_700_000_000.0 + i).payload for i in range(SAMPLE_TRANSACTIONS))


@lru_cache(maxsize=1)
def generated_shape() -> dict[str, bool]:
    """Every path the generator's transactions hold -> whether an object on its way may be null."""
    return transaction_shape(generated_samples())


def transaction_shape(samples: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    shape: dict[str, bool] = {}

    def walk(value: Mapping[str, Any], prefix: str, nullable: bool) -> None:
        for key, item in value.items():
            path = f"{prefix}{key}"
            shape[path] = shape.get(path, False) or nullable
            if isinstance(item, Mapping):
                walk(item, f"{path}.", nullable)
            elif item is None:
                shape[path] = True
                for known in list(shape):
                    if known.startswith(f"{path}."):
                        shape[known] = True

    for sample in samples:
        walk(sample, "", False)
    # a child seen only after its parent was null once is still under a nullable parent
    for path in shape:
        parent = path.rpartition(".")[0]
        while parent:
            if shape.get(parent):
                shape[path] = True
            parent = parent.rpartition(".")[0]
    return shape


class _Compiler:
    def __init__(
        self, shape: Mapping[str, bool], samples: list[Mapping[str, Any]],
        literal: Callable[[str], str],
    ) -> None:
        self.shape = shape
        self.samples = samples
        self.literal = literal
        self.names: dict[str, Any] = {"_dig": _dig, **{f"_f_{n}": f for n, f in FILTERS.items()}}
        self.paths: set[str] = set()

    def bind(self, value: Any) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name

    def node(self, value: Any, where: str) -> str:
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, Mapping):
            items = []
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TemplateError(where, f"key {key!r} is not text (JSON keys are text)")
                items.append(f"{self.bind(key)}: {self.node(item, _child(where, key))}")
            return "{" + ", ".join(items) + "}"
        if isinstance(value, list | tuple):
            return "[" + ", ".join(
                self.node(item, f"{where}[{i}]") for i, item in enumerate(value)
            ) + "]"
        if isinstance(value, float) and not math.isfinite(value):
            raise TemplateError(where, f"{value} is not a JSON number")
        if value is None or isinstance(value, bool | int | float):
            return self.bind(value)
        raise TemplateError(where, f"{type(value).__name__} is not a JSON value")

    def text(self, value: str, where: str) -> str:
        whole = _WHOLE.fullmatch(value)
        if whole is not None and "{{" not in whole.group(1):
            return self.expression(whole.group(1), where)
        literals: list[str] = []
        parts: list[str] = []
        position = 0
        for match in PLACEHOLDER.finditer(value):
            literals.append(value[position:match.start()])
            parts += [
                self.bind(self.literal(literals[-1])),
                f"_f_str({self.expression(match.group(1), where)})",
            ]
            position = match.end()
        literals.append(value[position:])
        if any("{{" in literal or "}}" in literal for literal in literals):
            raise TemplateError(where, f"unbalanced '{{{{' or '}}}}' in {value!r}")
        if position == 0:
            return self.bind(self.literal(value))
        parts.append(self.bind(self.literal(literals[-1])))
        return "(" + " + ".join(parts) + ")"

    def expression(self, inner: str, where: str) -> str:
        path, *filters = (part.strip() for part in inner.split("|"))
        if not path:
            raise TemplateError(where, "empty {{ }}")
        keys = path.split(".")
        if not all(_PATH_PART.fullmatch(key) for key in keys) or path not in self.shape:
            raise TemplateError(where, f"unknown path {path!r} in the transaction")
        self.paths.add(path)
        if self.shape[path]:
            source = f"_dig(t, {self.bind(tuple(keys))})"
        else:
            source = "t" + "".join(f"[{self.bind(key)}]" for key in keys)
        for name in filters:
            if name not in FILTERS:
                raise TemplateError(
                    where, f"unknown filter {name!r} (use one of {', '.join(FILTERS)})"
                )
            source = f"_f_{name}({source})"
        self.try_filters(path, filters, where)
        return source

    def try_filters(self, path: str, filters: list[str], where: str) -> None:
        keys = tuple(path.split("."))
        for sample in self.samples:
            value = _dig(sample, keys)
            for name in filters:
                try:
                    value = FILTERS[name](value)
                except (ValueError, TypeError):
                    raise TemplateError(
                        where, f"filter {name!r} cannot apply to {path} (e.g. {value!r})"
                    ) from None


def compile_body(
    body: Any, samples: Iterable[Mapping[str, Any]] | None = None, where: str = "request.body",
    literal: Callable[[str], str] = str,
) -> RenderBody:
    """The body template as a function of the transaction; TemplateError naming what is wrong.

    `literal` maps each fixed piece of text once, after the template is parsed (secret
    references are resolved there, so a secret's text is never read as a template).

    Paths are checked against the samples' shape (the generator's transactions by default),
    and the function is tried on each sample, so a filter that cannot apply to a path
    (epoch_ms of a merchant name) is found here, not on the first request.
    """
    if samples is None:
        samples, shape = generated_samples(), generated_shape()
    else:
        samples = list(samples)
        shape = transaction_shape(samples)
    compiler = _Compiler(shape, list(samples), literal)
    expression = compiler.node(body, where)
    namespace = {**compiler.names, "_dumps": orjson.dumps}
    code = compile(f"lambda t: _dumps({expression})", f"<{where}>", "eval")
    render: RenderBody = eval(code, namespace)  # built from bound names, never from the file
    for sample in samples:
        try:
            render(sample)
        except (ValueError, TypeError, KeyError, orjson.JSONEncodeError) as error:
            raise TemplateError(where, f"cannot render a transaction: {error}") from None
    return render
