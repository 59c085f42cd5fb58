"""Every pydantic model in stresslab/ and lambdas/ refuses inf and NaN, in config and in fact."""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError

import lambdas
import stresslab

NON_FINITE = (float("inf"), float("-inf"), float("nan"), "inf", "NaN")


def _modules(package: types.ModuleType) -> Iterator[types.ModuleType]:
    yield package
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for package in (stresslab, lambdas):
        for module in _modules(package):
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, BaseModel)
                        and value.__module__ == module.__name__):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


MODELS = _models()


def _holds_float(annotation: object) -> bool:
    if annotation is float:
        return True
    return any(_holds_float(arg) for arg in typing.get_args(annotation))


def _float_fields(model: type[BaseModel]) -> list[tuple[str, str]]:
    return [
        (name, info.validation_alias if isinstance(info.validation_alias, str)
         else info.alias or name)
        for name, info in model.model_fields.items() if _holds_float(info.annotation)
    ]


def test_the_walk_finds_the_models() -> None:
    names = {f"{m.__module__}.{m.__qualname__}" for m in MODELS}
    assert {"stresslab.scenario.spec.FaultSpec", "stresslab.measurement.metrics.MetricsBatch",
            "lambdas.plan.PlanEnv"} <= names
    assert len(MODELS) > 50


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__}.{m.__qualname__}")
def test_model_config_refuses_inf_nan(model: type[BaseModel]) -> None:
    assert model.model_config.get("allow_inf_nan") is False, (
        f"{model.__module__}.{model.__qualname__}: set allow_inf_nan=False in model_config"
    )


FLOAT_FIELDS = [(model, name, key) for model in MODELS for name, key in _float_fields(model)]


@pytest.mark.parametrize(
    ("model", "name", "key"), FLOAT_FIELDS,
    ids=[f"{m.__qualname__}.{n}" for m, n, _ in FLOAT_FIELDS],
)
@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_float_fields_refuse_inf_nan(
    model: type[BaseModel], name: str, key: str, value: object
) -> None:
    # Given a document whose float field is not finite (other fields may be missing)
    # When it is validated
    with pytest.raises(ValidationError) as caught:
        model.model_validate({key: value})
    # Then that field itself is refused (or the document, by a validator that reads the
    # field first), whatever else is wrong with the document
    refused = [e for e in caught.value.errors()
               if (e["loc"] and e["loc"][0] in (name, key))
               or (not e["loc"] and ("finite" in e["msg"] or "not a duration" in e["msg"]))]
    assert refused, f"{model.__qualname__}.{name} accepted {value!r}"
