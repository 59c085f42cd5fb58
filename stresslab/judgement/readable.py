"""Reading mode: how the report, the run store and the exports read any stresslab.summary/v1
file (judgement/summary_model.read_summary), also one recorded before a field existed (e.g.
counts.undelivered, the faults' resilience fields, degradation; docs/summary.md lists them), or
cut short, or written by hand.

A field such a file lacks, or holds in a form this version cannot read, reads as not recorded:
None, an empty list or mapping, or a part with nothing recorded (its model_fields_set empty);
model_fields_set holds only what the file gave. So a value read this way may be None whatever
its annotation says: readers format every value through outputs/format, where None is "n/a".
Outside reading mode (writing, plain model_validate) the models stay strict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

READING = {"reading": True}  # the validation context that turns reading mode on


def _reading(info: ValidationInfo) -> bool:
    return bool(isinstance(info.context, dict) and info.context.get("reading"))


def _not_recorded(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is list:
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, Readable):
        return annotation.model_validate({}, context=READING)
    return None


class Readable(BaseModel):
    """A part of the summary that reading mode reads leniently."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="wrap")
    @classmethod
    def _read_as_recorded(cls, data: Any, handler: ModelWrapValidatorHandler[Any],
                          info: ValidationInfo) -> Any:
        if not _reading(info) or isinstance(data, BaseModel):
            return handler(data)
        if not isinstance(data, Mapping):
            raise ValueError("not an object")
        keys = {field.alias or name: name for name, field in cls.model_fields.items()}
        keep_extra = cls.model_config.get("extra") == "allow"
        given = {key: value for key, value in data.items() if keep_extra or key in keys}
        missing = {key: _not_recorded(cls.model_fields[name].annotation)
                   for key, name in keys.items() if key not in given}
        model = handler({**given, **missing})
        object.__setattr__(model, "__pydantic_fields_set__",
                           {name for key, name in keys.items() if key in given})
        return model

    @field_validator("*", mode="wrap")
    @classmethod
    def _unreadable_as_not_recorded(cls, value: Any, handler: ValidatorFunctionWrapHandler,
                                    info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            if not _reading(info) or info.field_name is None:
                raise
            return _not_recorded(cls.model_fields[info.field_name].annotation)


ReadablePart = TypeVar("ReadablePart", bound=Readable)


def read_part(part: type[ReadablePart], data: Any) -> ReadablePart:
    """One part of a summary (e.g. its counts) as recorded, in reading mode."""
    return part.model_validate(data if isinstance(data, Mapping) else {}, context=READING)
