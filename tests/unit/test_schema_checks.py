"""The generated schema checks: current, exact where they answer, and only a fast path.

jsonschema is the reference: wherever the generated code gives a verdict it must be
jsonschema's (``None`` means "ask jsonschema"), and the loader must report exactly the
same problems whether or not the generated code is used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from badcorpus import BASE, cases, materialize
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from test_validate_fuzz import env_doc, release_doc

from release.config import schema, schema_checks, schema_compile
from release.config.source import parse_source
from release.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXACT = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(name: str, data: Any) -> bool:
    """jsonschema's verdict on the schema as release checks it."""
    return Draft202012Validator(schema.compiled_form(name)).is_valid(data)


def agree(name: str, data: Any) -> None:
    verdict = schema_checks.verdict(name, data)
    if verdict is not None:
        assert verdict == reference(name, data), data


def test_the_generated_module_is_current() -> None:
    stale = "release/config/schema_checks.py is stale: run python -m release.config.schema_compile"
    assert schema_compile.render() == Path(schema_checks.__file__).read_text("utf-8"), stale


def test_it_records_the_schema_files_it_came_from() -> None:
    for name in schema_compile.SCHEMAS:
        assert schema_checks.SCHEMA_SHA256[name] == schema_compile.schema_digest(name)


def test_every_corpus_file_gets_jsonschemas_verdict(tmp_path: Path) -> None:
    checked = 0
    for case in [*cases(), None]:
        root = BASE if case is None else materialize(case, tmp_path / case.name)
        files = [("release.yaml", schema.RELEASE_SCHEMA)] + [
            (f"environments/{p.name}", schema.ENVIRONMENT_SCHEMA)
            for p in sorted((root / "environments").glob("*.y*ml"))]
        for rel, name in files:
            try:
                data = yaml.safe_load((root / rel).read_bytes())
            except (OSError, yaml.YAMLError, ValueError):
                continue
            agree(name, data)
            checked += 1
    assert checked > 80


@pytest.mark.parametrize("path", sorted([*REPO.glob("environments/*.yaml"), REPO / "release.yaml"]))
def test_the_examples_are_valid_without_jsonschema(path: Path) -> None:
    name = schema.RELEASE_SCHEMA if path.name == "release.yaml" else schema.ENVIRONMENT_SCHEMA
    data = yaml.safe_load(path.read_text("utf-8"))
    assert schema_checks.verdict(name, data) is True
    assert reference(name, data)


@EXACT
@given(doc=release_doc)
def test_generated_release_files_get_jsonschemas_verdict(doc: Any) -> None:
    agree(schema.RELEASE_SCHEMA, doc)


@EXACT
@given(doc=env_doc)
def test_generated_environment_files_get_jsonschemas_verdict(doc: Any) -> None:
    agree(schema.ENVIRONMENT_SCHEMA, doc)


@pytest.mark.parametrize(("subschema", "instance"), [
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, 1.5),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"type": ["string", "null"]}, None),
    ({"const": 1}, True),
    ({"const": 1}, 1.0),
    ({"const": True}, 1),
    ({"enum": ["a", 1]}, "1"),
    ({"enum": ["a", 1]}, 1.0),
    ({"enum": ["a", "b"]}, ["a"]),
    ({"pattern": "^abc$"}, "abc\n"),
    ({"pattern": "b"}, "abc"),
    ({"pattern": "^x"}, 5),
    ({"minLength": 2}, "é"),
    ({"minimum": 3, "maximum": 5}, 5.5),
    ({"minimum": 3}, "2"),
    ({"minItems": 1, "items": {"type": "string"}}, []),
    ({"items": {"type": "string"}}, ["a", 2]),
    ({"uniqueItems": True}, ["a", "a"]),
    ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {"a": None}),
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
    ({"additionalProperties": {"type": "string"}, "properties": {"a": {}}}, {"a": 1, "b": "x"}),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"Bad": 1}),
    ({"propertyNames": {"type": "string"}}, {1: "x"}),
    ({"minProperties": 1}, {}),
    ({"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"b": 1}),
    ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "x"),
    ({"not": {"type": "string"}}, 3),
    ({"if": {"properties": {"t": {"const": "acr"}}}, "then": {"required": ["h"]}}, {"t": "acr"}),
    ({"if": {"properties": {"t": {"const": "acr"}}}, "then": {"required": ["h"]},
      "else": {"required": ["x"]}}, {"t": "ecr", "x": 1}),
    ({"allOf": [{"type": "object"}, {"required": ["a"]}]}, {"a": 1}),
    (False, None),
    ({"type": "string", "title": "t", "description": "d", "examples": ["x"]}, "x"),
])
def test_each_keyword_means_what_jsonschema_says(subschema: Any, instance: Any) -> None:
    verdict = schema_compile.checker(subschema)(instance)
    assert verdict == Draft202012Validator(subschema).is_valid(instance)


def test_a_property_named_like_an_annotation_is_kept_apart() -> None:
    # Two branches that differ only in a property called "title": one function each.
    subschema = {"anyOf": [{"properties": {"title": {"type": "string"}}},
                           {"properties": {}}]}
    assert Draft202012Validator(subschema).is_valid({"title": 5})
    assert schema_compile.checker(subschema)({"title": 5}) is True


def test_unique_items_over_non_strings_is_left_to_jsonschema() -> None:
    check = schema_compile.checker({"uniqueItems": True})
    assert check([1, True]) is None
    assert check(["a", "b"]) is True


@pytest.mark.parametrize("subschema", [
    {"format": "uri"},
    {"patternProperties": {"^x": {}}},
    {"items": [{"type": "string"}]},
    {"enum": [{"a": 1}]},
    {"unevaluatedProperties": False},
])
def test_keywords_it_cannot_reproduce_are_refused(subschema: Any) -> None:
    with pytest.raises(schema_compile.SchemaCompileError):
        schema_compile.checker(subschema)


def test_a_stale_module_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    source = parse_source(b"version: 1\nservices:\n  web: {context: .}\n", "release.yaml")
    before = schema.validate(source, schema.RELEASE_SCHEMA)
    monkeypatch.setitem(schema_checks.SCHEMA_SHA256, schema.RELEASE_SCHEMA, "0" * 64)
    calls: list[Any] = []
    monkeypatch.setattr(schema_checks, "verdict", lambda *a: calls.append(a) or True)
    assert schema.validate(source, schema.RELEASE_SCHEMA) == before
    assert not calls


def test_problems_are_the_same_with_and_without_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from release.config import load_config

    def problems(root: Path) -> list[str]:
        try:
            load_config(root)
        except ConfigError as exc:
            return [p.render() for p in exc.problems]
        return []

    compared = 0
    for case in cases()[:40]:
        root = materialize(case, tmp_path / case.name)
        fast = problems(root)
        with monkeypatch.context() as patch:
            patch.setattr(schema_checks, "verdict", lambda *a: None)
            slow = problems(root)
        assert fast == slow, case.name
        compared += bool(fast)
    assert compared > 20


def test_a_valid_configuration_never_imports_jsonschema() -> None:
    code = ("import sys; from pathlib import Path; from release.config import load_config; "
            f"load_config(Path({str(BASE)!r})); "
            "assert not [m for m in sys.modules if m.startswith('jsonschema')], 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
