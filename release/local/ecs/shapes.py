"""Does an answer have ECS's shape? ``check_shape`` holds an answer the control plane makes to
botocore's output shape of that ECS operation, so tests can prove a client would read it."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import Any

_NUMBER = (int, float)


@functools.cache
def _ecs_model() -> Any:
    """botocore's ECS service model (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("ecs")


def _operation_name(operation: str) -> str:
    """``DescribeServices`` from itself or from ``describe_services``."""
    from botocore import xform_name

    names = _ecs_model().operation_names
    if operation in names:
        return operation
    by_snake = {xform_name(name): name for name in names}
    if operation in by_snake:
        return str(by_snake[operation])
    raise ValueError(f"ECS has no operation {operation!r}")


def check_shape(operation: str, answer: dict[str, Any]) -> list[str]:
    """The ways ``answer`` is not the output of ECS ``operation`` (none: an empty list).

    Structures hold only their known keys (and their required ones), lists are lists, maps
    are objects, strings are strings within their enum, integers are integers (not booleans),
    booleans are booleans, timestamps are numbers, ISO 8601 strings or datetimes; null is
    never an answer's value. ``operation`` is ``DescribeServices`` or ``describe_services``.
    """
    shape = _ecs_model().operation_model(_operation_name(operation)).output_shape
    if shape is None:
        return [] if not answer else [f"{operation} answers nothing, not {answer!r}"]
    problems: list[str] = []
    _check(shape, answer, "", problems)
    return problems


def _check(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    """Add the problems of ``value`` at ``path`` against ``shape``."""
    where = path or "answer"
    if value is None:
        problems.append(f"{where}: null, ECS omits a value it does not have")
        return
    kind = shape.type_name
    if kind == "structure":
        _structure(shape, value, path, problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{where}: {_kind(value)}, not a list")
            return
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{where}: {_kind(value)}, not an object")
            return
        for key, item in value.items():
            _check(shape.value, item, f"{path}[{key!r}]", problems)
    else:
        problem = _SCALARS.get(kind, _any)(shape, value)
        if problem:
            problems.append(f"{where}: {problem}")


def _structure(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    """A structure: an object of known members, the required ones present."""
    if not isinstance(value, dict):
        problems.append(f"{path or 'answer'}: {_kind(value)}, not an object ({shape.name})")
        return
    members = shape.members
    for key, item in value.items():
        inner = f"{path}.{key}" if path else str(key)
        if key not in members:
            problems.append(f"{inner}: {shape.name} has no member {key!r}")
        else:
            _check(members[key], item, inner, problems)
    for key in shape.required_members:
        if key not in value:
            problems.append(f"{path or 'answer'}: {shape.name} lacks required {key!r}")


def _kind(value: Any) -> str:
    """A value's JSON kind, for messages."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _string(shape: Any, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{_kind(value)}, not a string"
    if shape.enum and value not in shape.enum:
        return f"{value!r} is not one of {shape.name}'s {sorted(shape.enum)}"
    return None


def _integer(_shape: Any, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{_kind(value)}, not an integer"
    return None


def _boolean(_shape: Any, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{_kind(value)}, not a boolean"


def _number(_shape: Any, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return f"{_kind(value)}, not a number"
    return None


def _timestamp(shape: Any, value: Any) -> str | None:
    if isinstance(value, datetime.datetime):
        return None
    if isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"{value!r} is not an ISO 8601 timestamp"
        return None
    return _number(shape, value) and f"{_kind(value)}, not a timestamp"


def _blob(_shape: Any, value: Any) -> str | None:
    return None if isinstance(value, str | bytes) else f"{_kind(value)}, not a blob"


def _any(_shape: Any, _value: Any) -> str | None:
    return None


_SCALARS: dict[str, Callable[[Any, Any], str | None]] = {
    "string": _string, "integer": _integer, "long": _integer, "boolean": _boolean,
    "float": _number, "double": _number, "timestamp": _timestamp, "blob": _blob,
}
