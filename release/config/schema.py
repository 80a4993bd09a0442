"""Validate parsed config against the JSON Schemas, turning every error into a located Problem."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from release.config.credentials import looks_secret
from release.config.source import PathKey, Source, dotted
from release.errors import Problem

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

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


SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@cache
def schema_bytes(name: str) -> bytes:
    """The named schema file as shipped in ``release/schemas``."""
    # Straight from the file beside this module: importlib.resources costs ~10 ms of
    # imports (zipfile) on every run. It stays the way to reach a zipped install.
    try:
        return (SCHEMA_DIR / name).read_bytes()
    except OSError:
        from importlib import resources

        return resources.files("release").joinpath("schemas", name).read_bytes()


@cache
def published(directory: str) -> dict[str, str]:
    """``directory/<name>`` -> text, for each schema a repository's editors read."""
    return {f"{directory}/{name}": schema_bytes(name).decode("utf-8")
            for name in (RELEASE_SCHEMA, ENVIRONMENT_SCHEMA)}


def load_schema(name: str) -> dict[str, Any]:
    """The named schema shipped in ``release/schemas``."""
    schema: dict[str, Any] = json.loads(schema_bytes(name))
    return schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every local ``$ref`` replaced by its target (siblings win).

    Our schemas are not recursive; resolving references once here makes validating a
    1,000-service file about 40% faster than resolving them at every use.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _fold(node: Any) -> Any:
    """Merge ``allOf: [X]`` (used only to attach a description) into its parent, and drop
    the "at least one target" ``anyOf``, which the loader checks far more cheaply.

    Failing ``anyOf`` branches build error objects for every service; on 1,000 services
    these two rewrites halve validation time. The published schema keeps both for editors.
    """
    if isinstance(node, list):
        return [_fold(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fold(v) for k, v in node.items() if k != "allOf"}
    parts = node.get("allOf")
    if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict) and not (
            set(parts[0]) & set(out) - {"description", "examples", "title"}):
        out = {**_fold(parts[0]), **out}
    elif parts is not None:
        out["allOf"] = _fold(parts)
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and all(set(a) == {"required"} for a in any_of if
                                        isinstance(a, dict)) and TARGETS_ANY_OF in node:
        out.pop("anyOf")
    return out


TARGETS_ANY_OF = "x-release-targets"  # marks the anyOf that load.py checks instead


def compiled_form(name: str) -> dict[str, Any]:
    """The schema as release checks it: ``$ref``s inlined, wrappers folded (see ``_fold``)."""
    schema = load_schema(name)
    folded: dict[str, Any] = _fold(_inline(schema, schema.get("$defs", {})))
    return folded


@cache
def _validator(name: str) -> Draft202012Validator:
    # jsonschema costs ~0.15 s to import: only files with a problem need it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(compiled_form(name))


@cache
def _fast_validator(name: str) -> Any:
    """jsonschema-rs's compiled validator of the schema as release checks it (Rust: a
    1,000-service file validates in milliseconds, and the module imports in ~25 ms)."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(compiled_form(name))


def _surely_valid(source: Source, schema_name: str) -> bool:
    """True when the file is valid: the common case, answered by the compiled validator."""
    return bool(_fast_validator(schema_name).is_valid(source.data))


def validate(source: Source, schema_name: str) -> list[Problem]:
    """All schema problems of ``source``, in file order."""
    problems: list[Problem] = []
    # Valid files (nearly all of them) are recognised by jsonschema-rs; jsonschema runs only
    # to word and locate what is wrong (its errors carry the subschema and its parents,
    # which the hints are made from).
    if not _surely_valid(source, schema_name):
        for error in _validator(schema_name).iter_errors(source.data):
            problems.extend(_explain(error, source))
        if not problems:
            problems.extend(_ecma_only(source, schema_name))
    if schema_name == RELEASE_SCHEMA:
        problems.extend(_targetless(source))
    problems.sort(key=lambda p: (p.line or 0, p.field))
    return _dedupe(problems)


def _ecma_only(source: Source, schema_name: str) -> list[Problem]:
    """What jsonschema-rs refuses and jsonschema lets pass: Python's ``re`` lets ``$`` match
    before a final newline (``"dev\n"`` matches ``^[a-z]+$``), JSON Schema's ECMA-262 regexes
    do not. Such a value must not pass, so jsonschema-rs's own errors are reported."""
    found = []
    for error in _fast_validator(schema_name).iter_errors(source.data):
        path: PathKey = tuple(error.instance_path)
        instance = error.instance
        bad = _CONTROL.search(instance) if isinstance(instance, str) else None
        message = (f"contains the control character {bad.group()!a}; a value here is one "
                   "line of text" if bad else str(error.message))
        found.append(Problem(source.path, source.line(path), dotted(path), message,
                             f"see {schema_name} for what {dotted(path) or 'the file'} takes"))
    return found


def _targetless(source: Source) -> list[Problem]:
    """The ``anyOf`` marked ``x-release-targets``, checked directly: a service needs a target."""
    service_schema = load_schema(RELEASE_SCHEMA)["$defs"]["service"]
    targets = sorted(n for branch in service_schema["anyOf"] for n in branch["required"])
    services = source.data.get("services") if isinstance(source.data, dict) else None
    if not isinstance(services, dict):
        return []
    return [Problem(source.path, source.line(("services", name)), f"services.{name}",
                    f"needs at least one of: {', '.join(targets)}",
                    _hint_from(service_schema))
            for name, body in services.items()
            if isinstance(body, dict) and not any(t in body for t in targets)]


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


def _explain(error: ValidationError, source: Source) -> list[Problem]:
    """``error`` as located problems, worded per JSON Schema keyword."""
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
        return _unknown_fields(problem, path, instance, schema)
    if kind == "required":
        return _missing_fields(problem, path, instance, value, schema)
    if kind == "type":
        return [_wrong_type(problem, path, instance, value, error)]
    if kind in {"enum", "const"}:
        allowed = value if kind == "enum" else [value]
        return [_not_allowed(problem, path, instance, allowed, schema)]
    if kind == "pattern":
        return [_pattern_problem(problem, path, instance, value, error)]
    return [_bounds_problem(problem, path, error, schema)]


_Make = Callable[[PathKey, str, str | None], Problem]


def _unknown_fields(problem: _Make, path: PathKey, instance: dict[str, Any],
                    schema: dict[str, Any]) -> list[Problem]:
    """One problem per key the schema does not know, with the closest known one."""
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


def _missing_fields(problem: _Make, path: PathKey, instance: Any, required: Any,
                    schema: dict[str, Any]) -> list[Problem]:
    """One problem per missing required field."""
    missing = [name for name in required if name not in instance]
    props = schema.get("properties", {})
    # A conditional `then: {required: [...]}` has no properties of its own: say what to add.
    return [
        problem(path, f"missing required field '{name}'",
                _hint_from(props.get(name)) or f"add '{name}:' here")
        for name in missing
    ]


def _wrong_type(problem: _Make, path: PathKey, instance: Any, expected: Any,
                error: ValidationError) -> Problem:
    """A value of the wrong type; a number or boolean where a string goes: quote it."""
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    type_hint = _hint_from(error.schema)
    if "string" in names and isinstance(instance, (int, float, bool)):
        type_hint = "quote the value so YAML reads it as a string, e.g. \"0123\" or \"on\""
    return problem(path, f"expected {wanted}, got {_describe(instance)}", type_hint)


def _not_allowed(problem: _Make, path: PathKey, instance: Any, allowed: Any,
                 schema: dict[str, Any]) -> Problem:
    """A value outside an ``enum`` or ``const``, with the closest allowed one."""
    shown = ", ".join(json.dumps(a) for a in allowed)
    close = difflib.get_close_matches(str(instance), [str(a) for a in allowed], n=1)
    hint = f"did you mean {close[0]!r}?" if close else _hint_from(schema)
    return problem(path, f"{_short(instance)} is not allowed; use one of: {shown}", hint)


def _bounds_problem(problem: _Make, path: PathKey, error: ValidationError,
                    schema: dict[str, Any]) -> Problem:
    """Emptiness, duplicates, a missing target, a number out of range; else jsonschema's words."""
    kind, instance, value = error.validator, error.instance, error.validator_value
    if kind in {"minProperties", "minItems", "minLength"}:
        return problem(path, "must not be empty", _hint_from(schema))
    if kind == "uniqueItems":
        return problem(path, "has duplicate entries", "list each value once")
    if kind in {"anyOf", "oneOf"} and _all_required(error):
        options = sorted({n for sub in error.context for n in cast(Any, sub.validator_value)})
        return problem(path, f"needs at least one of: {', '.join(options)}",
                       _hint_from(schema) or "add one of them")
    if kind in {"minimum", "maximum"}:
        word = "at least" if kind == "minimum" else "at most"
        return problem(path, f"{_short(instance)} is out of range: must be "
                       f"{word} {value}", _hint_from(_parent_schema(error)))
    return problem(path, error.message, _hint_from(schema))


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _pattern_problem(problem: _Make, path: PathKey,
                     instance: Any, pattern: str, error: ValidationError) -> Problem:
    """A value that does not match its pattern; worded for the two cases that matter most:
    a credential (never echoed) and a control character (it could forge a log line)."""
    if isinstance(instance, str):
        plain = len(path) >= 2 and path[-2] in {"environment", "build_args", "vars"}
        why = plain and looks_secret(str(path[-1]), instance)
        if why:
            return problem(path, f"plaintext credential: {why}",
                           "store the value in SSM Parameter Store or Secrets Manager and "
                           "reference it by ARN under secrets: (never in the config)")
        bad = _CONTROL.search(instance)
        if bad:
            return problem(path, f"contains the control character {bad.group()!a}; a value "
                           "here is one line of text", "remove it (a line break in a value "
                           "could forge a line of the release's log)")
    return problem(path, f"{_short(instance)} is not a valid value here",
                   _hint_from(_parent_schema(error)) or f"must match {pattern}")


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
