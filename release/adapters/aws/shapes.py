"""Check request parameters against botocore's own API models, offline."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class ShapeIssue:
    """One way the parameters differ from the API model, at a path inside them."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


@cache
def _operation(service: str, operation: str) -> Any:
    import botocore.session  # deferred: importing botocore costs a quarter second

    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def _split(path: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in path.strip(".").split("."):
        if not piece:
            continue
        name, *indexes = _INDEX.split(piece)
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i)
    return tuple(parts)


def check(service: str, operation: str, params: dict[str, Any]) -> list[ShapeIssue]:
    """Every difference between ``params`` and the input model of ``service.operation``."""
    shape = _operation(service, operation).input_shape
    if shape is None:
        return []
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(params, shape)
    issues = []
    # botocore keeps structured errors only in this attribute; its text report loses paths.
    for kind, where, details in report._errors:
        path = _split(where)
        if kind == "unknown field":
            unknown = details["unknown_param"]
            close = difflib.get_close_matches(unknown, details["valid_names"], n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                "valid fields: " + ", ".join(details["valid_names"]))
            issues.append(ShapeIssue((*path, unknown), f"unknown field '{unknown}'", hint))
        elif kind == "missing required field":
            name = details["required_name"]
            issues.append(ShapeIssue((*path, name), f"missing required field '{name}'",
                                     f"add '{name}' to the file"))
        elif kind == "invalid type":
            types = ", ".join(t.replace("<class '", "").replace("'>", "")
                              for t in details["valid_types"])
            issues.append(ShapeIssue(path, f"wrong type {type(details['param']).__name__}; "
                                     f"the ECS API wants {types}",
                                     "quote numbers that the API takes as strings"
                                     if "str" in types else f"write it as a {types.split(',')[0]}"))
        elif kind == "invalid enum":
            close = difflib.get_close_matches(str(details["param"]), details["valid_values"], n=1)
            issues.append(ShapeIssue(path, f"{details['param']!r} is not one of "
                                     f"{', '.join(details['valid_values'])}",
                                     f"did you mean '{close[0]}'?" if close else
                                     "use one of the values listed"))
        else:
            issues.append(ShapeIssue(path, f"{kind}: {details}",
                                     f"see the {operation} parameters in the "
                                     f"{service.upper()} API reference"))
    return issues
