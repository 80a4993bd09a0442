"""Compile the JSON Schemas into plain Python predicates: the fast happy path of validation.

    python -m release.config.schema_compile      # rewrites release/config/schema_checks.py

``release plan`` on 1,000 services spent ~0.4 s importing jsonschema and walking the
config with it, only to learn that a valid file is valid. The generated module answers
"valid or not" with straight-line ``isinstance`` checks and imports nothing but ``re``
and ``numbers``; jsonschema still runs whenever that answer is "not valid", to word and
locate every problem exactly as before.

Only keywords whose meaning is reproduced exactly (jsonschema's Draft 2020-12 rules,
type by type) are compiled; anything else is refused here, so a schema that grows a new
keyword cannot silently be checked more loosely. Where an exact answer is not cheap
(``uniqueItems`` over non-strings) the generated code says "cannot tell" and the caller
falls back to jsonschema.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.config.schema import (
    ENVIRONMENT_SCHEMA,
    RELEASE_SCHEMA,
    compiled_form,
    schema_bytes,
)

SCHEMAS = (RELEASE_SCHEMA, ENVIRONMENT_SCHEMA)
TARGET = Path(__file__).with_name("schema_checks.py")

# Keywords that assert nothing (jsonschema without a format checker asserts nothing either,
# but `format` is left out on purpose: a checker may be switched on one day).
ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description",
                         "examples", "default", "deprecated", "readOnly", "writeOnly"})
_TYPES = {
    "object": "isinstance({x}, dict)",
    "array": "isinstance({x}, list)",
    "string": "isinstance({x}, str)",
    "boolean": "isinstance({x}, bool)",
    "null": "{x} is None",
    # jsonschema's Draft 6+ rules: bools are not numbers; 1.0 is an integer.
    "number": "(isinstance({x}, Number) and not isinstance({x}, bool))",
    "integer": "((isinstance({x}, int) and not isinstance({x}, bool))"
               " or (isinstance({x}, float) and {x}.is_integer()))",
}


class SchemaCompileError(Exception):
    """The schema uses something this compiler cannot reproduce exactly."""


def _is_annotation(keyword: str) -> bool:
    return keyword in ANNOTATIONS or keyword.startswith("x-")


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_VALUES = frozenset({"items", "additionalProperties", "propertyNames", "not", "if",
                            "then", "else", "contains"})


def _asserting(schema: Any) -> Any:
    """``schema`` without its annotations, for spotting identical subschemas: keywords are
    dropped only where a schema is expected (a property may well be named ``title``)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if _is_annotation(keyword):
            continue
        if keyword in _SCHEMA_MAPS:
            out[keyword] = {name: _asserting(sub) for name, sub in value.items()}
        elif keyword in _SCHEMA_LISTS:
            out[keyword] = [_asserting(sub) for sub in value]
        elif keyword in _SCHEMA_VALUES:
            out[keyword] = _asserting(value)
        else:
            out[keyword] = value  # data: enum values, required names, patterns
    return out


def _literal_test(x: str, value: Any) -> str:
    """An exact ``jsonschema._utils.equal(x, value)`` for a scalar ``value``."""
    if isinstance(value, str):
        return f"{x} == {value!r} and isinstance({x}, str)"
    if isinstance(value, bool) or value is None:
        return f"{x} is {value!r}"
    if isinstance(value, int | float):
        return f"{x} == {value!r} and isinstance({x}, Number) and not isinstance({x}, bool)"
    raise SchemaCompileError(f"enum/const value {value!r}: only strings, numbers, booleans "
                             "and null are compiled")


@dataclass
class _Compiler:
    """Turns schema nodes into ``def _sN(x: Any) -> bool`` functions, one per distinct node."""

    functions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    constants: list[str] = field(default_factory=list)
    constant_names: dict[str, str] = field(default_factory=dict)

    def constant(self, code: str) -> str:
        """A module-level name for the expression ``code`` (a compiled pattern, a key set)."""
        if code not in self.constant_names:
            name = f"_C{len(self.constant_names)}"
            self.constant_names[code] = name
            self.constants.append(f"{name} = {code}")
        return self.constant_names[code]

    def node(self, schema: Any, where: str) -> str:
        """The name of the function that checks ``schema`` (compiling it once)."""
        key = json.dumps(_asserting(schema), sort_keys=True)
        if key in self.names:
            return self.names[key]
        name = f"_s{len(self.names)}"
        self.names[key] = name
        body = self._body(schema, where)
        self.functions.append("\n".join([f"def {name}(x: Any) -> bool:", *body,
                                         "    return True"]))
        return name

    def _body(self, schema: Any, where: str) -> list[str]:
        if schema is True:
            return []
        if schema is False:
            return ["    return False"]
        if not isinstance(schema, dict):
            raise SchemaCompileError(f"{where}: a schema must be an object or a boolean")
        known = {"type", "enum", "const", "minLength", "pattern", "minimum", "maximum",
                 "minProperties", "required", "properties", "additionalProperties",
                 "propertyNames", "minItems", "items", "uniqueItems", "allOf", "anyOf",
                 "oneOf", "not", "if", "then", "else"}
        unknown = sorted(k for k in schema if k not in known and not _is_annotation(k))
        if unknown:
            raise SchemaCompileError(f"{where}: cannot compile {', '.join(unknown)}; "
                                     "teach release/config/schema_compile.py its exact meaning")
        kinds = schema.get("type")
        kinds = set(kinds if isinstance(kinds, list) else [kinds] if kinds else _TYPES)
        lines = self._generic(schema, where)
        for kind, checks, loops in (("string", *self._string(schema)),
                                    ("number", *self._number(schema)),
                                    ("object", *self._object(schema, where)),
                                    ("array", *self._array(schema, where))):
            applies = kinds & ({"number", "integer"} if kind == "number" else {kind})
            if not applies:
                continue  # the type check already refused every value these look at
            sure = kinds <= ({"number", "integer"} if kind == "number" else {kind})
            lines.extend(_guarded(None if sure else _GUARDS[kind], checks, loops))
        return lines

    def _generic(self, schema: dict[str, Any], where: str) -> list[str]:
        out = []
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = " or ".join(_TYPES[k].format(x="x") for k in kinds)
            out.append(f"    if not {tests if tests.startswith('(') else f'({tests})'}:\n"
                       "        return False")
        if "const" in schema:
            out.append(f"    if not ({_literal_test('x', schema['const'])}):\n"
                       "        return False")
        if "enum" in schema:
            values = schema["enum"]
            if all(isinstance(v, str) for v in values):
                pool = self.constant(f"frozenset({sorted(values)!r})")
                out.append(f"    if not (isinstance(x, str) and x in {pool}):\n"
                           "        return False")
            else:
                tests = " or ".join(f"({_literal_test('x', v)})" for v in values)
                out.append(f"    if not ({tests}):\n        return False")
        for index, sub in enumerate(schema.get("allOf", [])):
            out.append(f"    if not {self.node(sub, f'{where}/allOf/{index}')}(x):\n"
                       "        return False")
        if "anyOf" in schema:
            calls = " or ".join(f"{self.node(s, f'{where}/anyOf/{i}')}(x)"
                                for i, s in enumerate(schema["anyOf"]))
            out.append(f"    if not ({calls}):\n        return False")
        if "oneOf" in schema:
            calls = ", ".join(f"{self.node(s, f'{where}/oneOf/{i}')}(x)"
                              for i, s in enumerate(schema["oneOf"]))
            out.append(f"    if [{calls}].count(True) != 1:\n        return False")
        if "not" in schema:
            out.append(f"    if {self.node(schema['not'], f'{where}/not')}(x):\n"
                       "        return False")
        if "if" in schema:
            test = self.node(schema["if"], f"{where}/if")
            then = self.node(schema.get("then", True), f"{where}/then")
            other = self.node(schema.get("else", True), f"{where}/else")
            out.append(f"    if not ({then}(x) if {test}(x) else {other}(x)):\n"
                       "        return False")
        return out

    def _string(self, schema: dict[str, Any]) -> tuple[list[str], list[str]]:
        checks = []
        if "minLength" in schema:
            checks.append(f"len(x) < {int(schema['minLength'])}")
        if "pattern" in schema:
            # jsonschema runs re.search with the pattern as written: so does this.
            # re.search with the pattern as written, as jsonschema does (and compiled on
            # first use: most of the patterns never meet a value in a given file).
            pattern = self.constant(repr(schema["pattern"]))
            checks.append(f"re.search({pattern}, x) is None")
        return checks, []

    def _number(self, schema: dict[str, Any]) -> tuple[list[str], list[str]]:
        checks = []
        if "minimum" in schema:
            checks.append(f"x < {schema['minimum']!r}")
        if "maximum" in schema:
            checks.append(f"x > {schema['maximum']!r}")
        return checks, []

    def _object(self, schema: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
        checks = []
        if "minProperties" in schema:
            checks.append(f"len(x) < {int(schema['minProperties'])}")
        checks.extend(f"{name!r} not in x" for name in schema.get("required", []))
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if _asserting(sub) in ({}, True):
                continue  # annotations only: nothing to check
            func = self.node(sub, f"{where}/properties/{name}")
            checks.append(f"{name!r} in x and not {func}(x[{name!r}])")
        extra = schema.get("additionalProperties", True)
        known = self.constant(f"frozenset({sorted(properties)!r})") if properties else ""
        loops = []
        if extra is False:
            checks.append(f"not {known}.issuperset(x)" if known else "x")
        elif extra is not True:
            func = self.node(extra, f"{where}/additionalProperties")
            loops.append(f"for k, v in x.items():\n    if k not in {known} and not {func}(v):\n"
                         "        return False" if known else
                         f"for v in x.values():\n    if not {func}(v):\n        return False")
        if "propertyNames" in schema:
            func = self.node(schema["propertyNames"], f"{where}/propertyNames")
            loops.append(f"for k in x:\n    if not {func}(k):\n        return False")
        return checks, loops

    def _array(self, schema: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
        checks = []
        if "minItems" in schema:
            checks.append(f"len(x) < {int(schema['minItems'])}")
        if schema.get("uniqueItems") is True:
            checks.append("not _unique(x)")
        loops = []
        if "items" in schema:
            if not isinstance(schema["items"], dict | bool):
                raise SchemaCompileError(f"{where}/items: the array form is not Draft 2020-12")
            func = self.node(schema["items"], f"{where}/items")
            loops.append(f"for v in x:\n    if not {func}(v):\n        return False")
        return checks, loops


_GUARDS = {"string": "isinstance(x, str)", "array": "isinstance(x, list)",
           "object": "isinstance(x, dict)",
           "number": "isinstance(x, Number) and not isinstance(x, bool)"}


def _guarded(test: str | None, checks: list[str], loops: list[str]) -> list[str]:
    """Each failing condition returns False, under ``if test:`` unless the type is certain."""
    if not checks and not loops:
        return []
    indent = "    " if test is None else "        "
    out = [] if test is None else [f"    if {test}:"]
    for check in checks:
        out.extend([f"{indent}if {check}:", f"{indent}    return False"])
    for loop in loops:
        out.extend(indent + line for line in loop.splitlines())
    return out


HEADER = '''\
"""GENERATED by release/config/schema_compile.py from release/schemas/*.json: do not edit.

Regenerate with `python -m release.config.schema_compile`; tests/unit/test_schema_checks.py
fails while this file is stale. ``verdict(name, data)`` is True when ``data`` is valid
against the named schema (as release folds it), False when it is not, None when it cannot
tell cheaply; only True lets the loader skip jsonschema.
"""

# ruff: noqa: E501, PLR0912, SIM102, SIM103, SIM110, ARG001

from __future__ import annotations

import re
from collections.abc import Callable
from numbers import Number
from typing import Any


class _CannotTellError(Exception):
    """An exact answer would cost more than asking jsonschema."""


def _unique(items: list[Any]) -> bool:
    if all(type(item) is str for item in items):
        return len(set(items)) == len(items)
    raise _CannotTellError
'''

FOOTER = '''

def verdict(name: str, data: Any) -> bool | None:
    """Whether ``data`` is valid against schema ``name``; None when it cannot tell."""
    try:
        return _ROOTS[name](data)
    except (_CannotTellError, RecursionError):
        return None
'''


def schema_digest(name: str) -> str:
    """sha256 of the shipped schema file: the generated checks hold the one they came from."""
    return hashlib.sha256(schema_bytes(name)).hexdigest()


def render() -> str:
    """The text of ``schema_checks.py`` for the schemas shipped now."""
    compiler = _Compiler()
    roots = {name: compiler.node(compiled_form(name), name) for name in SCHEMAS}
    return _module(compiler, roots, {name: schema_digest(name) for name in SCHEMAS})


def checker(schema: Any) -> Callable[[Any], bool | None]:
    """``verdict`` for one schema, compiled on the spot: for tests and experiments."""
    compiler = _Compiler()
    code = _module(compiler, {"schema": compiler.node(schema, "schema")}, {})
    namespace: dict[str, Any] = {}
    exec(compile(code, "<compiled schema>", "exec"), namespace)  # noqa: S102 - our own output
    verdict: Callable[[str, Any], bool | None] = namespace["verdict"]
    return lambda data: verdict("schema", data)


def _module(compiler: _Compiler, roots: dict[str, str], digests: dict[str, str]) -> str:
    digest_lines = "".join(f"    {name!r}: {digest!r},\n" for name, digest in digests.items())
    root_lines = "".join(f"    {name!r}: {func},\n" for name, func in roots.items())
    return (HEADER + "\nSCHEMA_SHA256 = {\n" + digest_lines + "}\n\n"
            + "\n".join(compiler.constants) + "\n\n\n"
            + "\n\n\n".join(compiler.functions)
            + "\n\n\n_ROOTS: dict[str, Callable[[Any], bool]] = {\n" + root_lines + "}\n\n"
            + FOOTER)


def main() -> int:
    """Rewrite ``schema_checks.py``; exit 1 with the reason when a schema cannot be compiled."""
    try:
        text = render()
    except SchemaCompileError as exc:
        sys.stderr.write(f"cannot compile the schemas: {exc}\n")
        return 1
    TARGET.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
