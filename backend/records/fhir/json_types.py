"""FHIR's JSON representation of primitive types, which fhir.resources does not enforce.

Its models coerce: `"period": {"start": 20251002}` passes as a Unix timestamp, `"value": "7.2"` as a
decimal. FHIR JSON is strict (R4 §2.6.2): strings for string-like primitives (dates included), JSON
numbers for integer and decimal, JSON true/false for boolean. This walks a resource along its model's
fields and reports every primitive of the wrong JSON type.
"""

from __future__ import annotations

import decimal
import types
import typing
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

_NUMBER_MARKERS = {"Decimal"}
_INTEGER_MARKERS = {"Integer", "UnsignedInt", "PositiveInt", "Integer64"}
_BOOLEAN_MARKERS = {"Boolean"}
_MAX_ISSUES = 10

Field = tuple[str, bool, type[BaseModel] | None]  # (JSON kind, is a list, model of a complex element)


def wrong_json_types(resource: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(expression, message) for each primitive whose JSON type is wrong."""
    issues: list[tuple[str, str]] = []
    _check(_model_for(resource), resource, path, issues)
    return issues[:_MAX_ISSUES]


def _check(model: type[BaseModel] | None, value: dict[str, Any], path: str, issues: list[tuple[str, str]]) -> None:
    if model is None or len(issues) >= _MAX_ISSUES:
        return
    fields = _fields(model)
    for name, item in value.items():
        field = fields.get(name)
        if field is None:
            continue  # `_element` extensions, resourceType: not primitives of this model
        kind, is_list, child = field
        items = item if is_list and isinstance(item, list) else [item]
        for number, element in enumerate(items):
            where = f"{path}.{name}" + (f"[{number}]" if is_list else "")
            if kind == "complex":
                if isinstance(element, dict):
                    # `contained` and `Bundle.entry.resource` hold any resource: look at its resourceType
                    generic = child is not None and child.__name__ in ("Resource", "DomainResource")
                    _check(_model_for(element) if generic else child, element, where, issues)
            elif not _matches(kind, element):
                issues.append((where, f"must be a JSON {kind}, not {type(element).__name__}"))


def _model_for(resource: dict[str, Any]) -> type[BaseModel] | None:
    try:
        return get_fhir_model_class(str(resource.get("resourceType")))
    except (KeyError, ValueError, TypeError):
        return None


def _matches(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


@cache
def _fields(model: type[BaseModel]) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for name, info in model.model_fields.items():
        described = _describe(info.annotation)
        if described is not None:
            fields[info.alias or name] = described
    return fields


def _describe(annotation: Any) -> Field | None:
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            arguments = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
            if len(arguments) != 1:
                return None
            annotation = arguments[0]
        elif origin in (list, typing.List):  # noqa: UP006 - fhir.resources writes typing.List
            is_list, annotation = True, typing.get_args(annotation)[0]
        else:
            break
    metadata = getattr(annotation, "__metadata__", ())
    if metadata:
        marker = type(metadata[0]).__name__
        if marker in _BOOLEAN_MARKERS:
            return ("boolean", is_list, None)
        if marker in _INTEGER_MARKERS:
            return ("integer", is_list, None)
        if marker in _NUMBER_MARKERS:
            return ("number", is_list, None)
        return ("string", is_list, None)
    plain = {bool: "boolean", int: "integer", float: "number", decimal.Decimal: "number", str: "string"}
    if annotation in plain:
        return (plain[annotation], is_list, None)
    klass = getattr(annotation, "get_model_klass", None)
    if callable(klass):
        return ("complex", is_list, klass())
    return None
