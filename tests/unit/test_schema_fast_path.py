"""The fast path of validation: jsonschema-rs says whether a file is valid; jsonschema
words what is wrong. The two must agree on every verdict, except where JSON Schema's own
regex dialect (ECMA-262) and Python's ``re`` differ, and there the stricter one wins.
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

from release.config import schema
from release.config.source import parse_source
from release.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXACT = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(name: str, data: Any) -> bool:
    """jsonschema's verdict on the schema as release checks it."""
    return Draft202012Validator(schema.compiled_form(name)).is_valid(data)


def agree(name: str, data: Any) -> None:
    assert schema._fast_validator(name).is_valid(data) == reference(name, data), data


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
    assert schema._fast_validator(name).is_valid(data)
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
    import jsonschema_rs

    rust = jsonschema_rs.Draft202012Validator(subschema).is_valid(instance)
    assert rust == Draft202012Validator(subschema).is_valid(instance)


def test_a_trailing_newline_does_not_pass_a_name_pattern() -> None:
    # Python's re lets "$" match before a final newline; JSON Schema's regexes do not, and
    # neither does release: the value is refused, located, with a hint.
    source = parse_source(b"name: dev\nregistry: {type: ecr}\necs: {cluster: \"dev\\n\"}\n"
                          b"services: {}\n", "environments/dev.yaml")
    assert reference(schema.ENVIRONMENT_SCHEMA, source.data)
    problems = schema.validate(source, schema.ENVIRONMENT_SCHEMA)
    assert [(p.line, p.field) for p in problems] == [(3, "ecs.cluster")]
    assert "control character '\\n'" in problems[0].message
    assert problems[0].hint


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
            patch.setattr(schema, "_surely_valid", lambda *a: False)
            slow = problems(root)
        assert fast == slow, case.name
        compared += bool(fast)
    assert compared > 20


def test_a_valid_configuration_never_imports_jsonschema() -> None:
    code = ("import sys; from pathlib import Path; from release.config import load_config; "
            f"load_config(Path({str(BASE)!r})); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'jsonschema'], 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
