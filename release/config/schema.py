"""Validate parsed config against the JSON Schemas, turning every error into a located Problem."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from release.config.source import PathKey, Source, dotted
from release.errors import Problem

RELEASE_SCHEMA = "release.schema.json"
ENVIRONMENT_SCHEMA = "environment.schema.json"

_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "nothing",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The named schema shipped in ``release/schemas``."""
    text = resources.files("release").joinpath("schemas", name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(source: Source, schema_name: str) -> list[Problem]:
    """All schema problems of ``source``, in file order."""
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(source.data):
        problems.extend(_explain(error, source))
    problems.sort(key=lambda p: (p.line or 0, p.field))
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int | None, str, str]] = set()
    out = []
    for problem in problems:
        key = (problem.line, problem.field, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"a whole number ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def _hint_from(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    parts = []
    if "description" in schema:
        parts.append(str(schema["description"]))
    examples = schema.get("examples")
    if examples:
        parts.append(f"example: {json.dumps(examples[0])}")
    return "; ".join(parts) or None


def _explain(error: ValidationError, source: Source) -> list[Problem]:  # noqa: PLR0912 - one branch per JSON Schema keyword
    path: PathKey = tuple(error.absolute_path)
    instance: Any = error.instance
    value: Any = error.validator_value
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}

    def problem(at: PathKey, message: str, hint: str | None = None) -> Problem:
        return Problem(source.path, source.line(at), dotted(at), message, hint)

    if "propertyNames" in error.absolute_schema_path:
        # The offending key is the instance; the path stops at the mapping that holds it.
        at = (*path, str(instance))
        return [problem(at, f"{_short(instance)} is not a valid name here",
                        _hint_from(schema) or f"names must match {schema.get('pattern')}")]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        out = []
        for key in instance:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            suggestion = f"did you mean '{close[0]}'?" if close else (
                f"known fields here: {', '.join(known)}" if known else "remove it"
            )
            out.append(problem((*path, key), f"unknown field '{key}'", suggestion))
        return out
    if kind == "required":
        missing = [name for name in value if name not in instance]
        props = schema.get("properties", {})
        # A conditional `then: {required: [...]}` has no properties of its own: say what to add.
        return [
            problem(path, f"missing required field '{name}'",
                    _hint_from(props.get(name)) or f"add '{name}:' here")
            for name in missing
        ]
    if kind == "type":
        expected = value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        type_hint = _hint_from(error.schema)
        if "string" in names and isinstance(instance, (int, float, bool)):
            type_hint = "quote the value so YAML reads it as a string, e.g. \"0123\" or \"on\""
        return [problem(path, f"expected {wanted}, got {_describe(instance)}", type_hint)]
    if kind in {"enum", "const"}:
        allowed = value if kind == "enum" else [value]
        shown = ", ".join(json.dumps(a) for a in allowed)
        close = difflib.get_close_matches(str(instance), [str(a) for a in allowed], n=1)
        hint = f"did you mean {close[0]!r}?" if close else _hint_from(schema)
        return [problem(path, f"{_short(instance)} is not allowed; use one of: {shown}",
                        hint)]
    if kind == "pattern":
        return [problem(path, f"{_short(instance)} is not a valid value here",
                        _hint_from(_parent_schema(error)) or f"must match {value}")]
    if kind in {"minProperties", "minItems", "minLength"}:
        return [problem(path, "must not be empty", _hint_from(schema))]
    if kind == "uniqueItems":
        return [problem(path, "has duplicate entries", "list each value once")]
    if kind in {"anyOf", "oneOf"} and _all_required(error):
        options = sorted({n for sub in error.context for n in cast(Any, sub.validator_value)})
        return [problem(path, f"needs at least one of: {', '.join(options)}",
                        _hint_from(schema) or "add one of them")]
    if kind in {"minimum", "maximum"}:
        word = "at least" if kind == "minimum" else "at most"
        return [problem(path, f"{_short(instance)} is out of range: must be "
                        f"{word} {value}", _hint_from(_parent_schema(error)))]
    return [problem(path, error.message, _hint_from(schema))]


def _parent_schema(error: ValidationError) -> Any:
    """The schema that owns a failing keyword, with its description (``allOf``/``$ref`` aware)."""
    schema = error.schema
    if isinstance(schema, dict) and "description" in schema:
        return schema
    parent = error.parent
    while parent is not None:
        if isinstance(parent.schema, dict) and "description" in parent.schema:
            return parent.schema
        parent = parent.parent
    return schema


def _all_required(error: ValidationError) -> bool:
    return bool(error.context) and all(sub.validator == "required" for sub in error.context)
