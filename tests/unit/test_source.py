"""release.config.source: YAML with the line of every key, value and list item."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.config.source import (
    MAX_CONFIG_BYTES,
    PathKey,
    SourceError,
    dotted,
    parse_source,
    read_source,
)

DOC = """\
# a comment
version: 1
services:
  web:
    context: services/web
    watch:
      - libs/a
      - libs/b
    ecs: {task_definition: t.json, container: web}
  worker:
    lambda: {}
    s3_files:
      - source: model
        key: models/
empty:
multi: |
  line one
  line two
after: 3
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("version",), 2),
        (("services",), 3),
        (("services", "web"), 4),
        (("services", "web", "context"), 5),
        (("services", "web", "watch"), 6),
        (("services", "web", "watch", 0), 7),
        (("services", "web", "watch", 1), 8),
        (("services", "web", "ecs"), 9),
        (("services", "web", "ecs", "container"), 9),
        (("services", "worker", "lambda"), 11),
        (("services", "worker", "s3_files", 0), 13),
        (("services", "worker", "s3_files", 0, "key"), 14),
        (("empty",), 15),
        (("multi",), 16),
        (("after",), 19),
        # Paths that do not exist fall back to the nearest one that does.
        (("services", "web", "watch", 7), 6),
        (("services", "web", "nope", "deeper"), 4),
        (("nope",), 2),  # the document itself starts at its first key
    ],
)
def test_line_of_path(path: PathKey, line: int) -> None:
    source = parse_source(DOC.encode(), "release.yaml")
    assert source.line(path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("services", "web", "context"), 5),  # a scalar value on its key's line
        (("services", "web", "watch", 1), 8),  # a list item
        (("services", "web", "watch"), 7),  # a block list starts at its first item
        (("multi",), 16),  # a block scalar starts at its indicator
        (("services", "worker", "s3_files", 0), 13),
    ],
)
def test_value_lines(path: PathKey, line: int) -> None:
    source = parse_source(DOC.encode(), "release.yaml")
    assert source.value_lines[path] == line


def test_data_is_plain_python() -> None:
    source = parse_source(DOC.encode(), "release.yaml")
    assert source.data["services"]["web"]["watch"] == ["libs/a", "libs/b"]
    assert source.data["empty"] is None
    assert source.data["multi"] == "line one\nline two\n"
    assert source.path == "release.yaml"


def test_json_is_read_with_lines() -> None:
    raw = b'{\n  "family": "x",\n  "containerDefinitions": [\n    {"name": "web"}\n  ]\n}\n'
    source = parse_source(raw, "task.json")
    assert source.data["containerDefinitions"][0]["name"] == "web"
    assert source.line(("containerDefinitions", 0, "name")) == 4
    assert source.line(("family",)) == 2


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("services",), "services"),
        (("services", "web", "s3_files", 0, "key"), "services.web.s3_files[0].key"),
        (("a", 0, 1), "a[0][1]"),
        ((0, "x"), "[0].x"),
    ],
)
def test_dotted(path: PathKey, text: str) -> None:
    assert dotted(path) == text


@pytest.mark.parametrize(
    ("raw", "line", "message"),
    [
        (b"", None, "file is empty"),
        (b"# only a comment\n", None, "file is empty"),
        (b"a: 1\nb: [1, 2\n", 3, "YAML syntax error"),
        (b"a:\n\tb: 1\n", 2, "YAML syntax error"),
        (b"a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        (b"x:\n  a: 1\n  a: 2\n", 3, "duplicate key 'a'"),
        (b"a: 1\n\xff\n", 2, "not valid UTF-8"),
        (b"a: \x00\n", None, "binary file"),
        (b"a: 1\nb: \x07\n", 2, "control character #x0007"),
        (b"a: &a [*a]\n", 1, "alias refers to the value that contains it"),
        pytest.param(b"[" * 5000 + b"]" * 5000, None, "nesting is too deep", id="deep-nesting"),
        (b"a: !!python/object:os.system x\n", 1, "YAML syntax error"),
        (b"a: 1\n---\nb: 2\n", 2, "YAML syntax error"),
    ],
)
def test_unparseable_input_is_a_located_problem(raw: bytes, line: int | None, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_source(raw, "f.yaml")
    problem = caught.value.problem
    assert problem.file == "f.yaml"
    assert problem.line == line
    assert message in problem.message
    assert problem.hint


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    with pytest.raises(SourceError) as caught:
        parse_source("\n".join(lines).encode(), "bomb.yaml")
    assert "expands to more than" in caught.value.problem.message


def test_merge_keys_are_not_duplicates() -> None:
    raw = b"base: &b {x: 1}\none:\n  <<: *b\n  y: 2\n"
    source = parse_source(raw, "f.yaml")
    assert source.data["one"] == {"x": 1, "y": 2}


def test_oversized_file_is_refused_before_parsing() -> None:
    raw = b"a: 1\n" + b"#" * MAX_CONFIG_BYTES
    with pytest.raises(SourceError) as caught:
        parse_source(raw, "big.yaml")
    assert "limited to 1024 KiB" in caught.value.problem.message


def test_read_source_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as missing:
        read_source(tmp_path, "nope.yaml")
    assert missing.value.problem.message == "file not found"
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(SourceError) as directory:
        read_source(tmp_path, "dir.yaml")
    assert "is a directory" in directory.value.problem.message
    assert directory.value.problem.hint


def test_read_source_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b: [1, 2]\n")
    source = read_source(tmp_path, "x.yaml")
    assert source.data == {"a": {"b": [1, 2]}}
    assert source.line(("a", "b", 1)) == 2
