"""Read a YAML (or JSON) file into plain data plus the line of every field.

Positions are kept beside the data, keyed by the field's path, so that schema errors,
cross-file checks and plaintext-secret checks can all say ``file:line``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from release import repo_files
from release.config.plain_yaml import plain_data
from release.errors import Problem

MAX_CONFIG_BYTES = 1024 * 1024  # real config files are a few KB; 1 MiB is generous
MAX_NODES = 100_000
# libyaml's parser is ~8x faster than the pure-Python one on large files (1,000 services).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathKey = tuple[str | int, ...]
_QUICK_DEPTH = 100  # config files are a few levels deep; deeper ones take the careful path


@dataclass(frozen=True)
class Source:
    """A parsed file: its data, and the line of each key and value by path.

    Lines are found on demand from ``text`` when the parse did not record them: a valid
    file never needs them, and recording them costs as much as parsing a large file.
    """

    path: str
    data: Any
    text: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def located(cls, path: str, data: Any, key_lines: dict[PathKey, int],
                value_lines: dict[PathKey, int]) -> Source:
        """A source whose lines are already known."""
        source = cls(path, data)
        source.__dict__["_lines"] = (key_lines, value_lines)
        return source

    @cached_property
    def _lines(self) -> tuple[dict[PathKey, int], dict[PathKey, int]]:
        if self.text is None:
            return {}, {}
        try:
            located = _located(self.text, self.path)
        except SourceError:  # cannot happen for a text the quick path read; lines are extra
            return {}, {}
        return located.key_lines, located.value_lines

    @property
    def key_lines(self) -> dict[PathKey, int]:
        """Line of each mapping key, by the path of its value."""
        return self._lines[0]

    @property
    def value_lines(self) -> dict[PathKey, int]:
        """Line where each value starts, by its path."""
        return self._lines[1]

    def line(self, path: PathKey) -> int | None:
        """Line of the field at ``path``: its key when it has one, else its value."""
        key_lines, value_lines = self._lines
        probe = tuple(path)
        while True:
            if probe in key_lines:
                return key_lines[probe]
            if probe in value_lines:
                return value_lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


def dotted(path: PathKey) -> str:
    """``services.autovision.s3_files[0].key`` from ``("services", "autovision", ...)``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class SourceError(Exception):
    """The file cannot be read as YAML at all; carries one located problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def read_source(root: Path, rel: str) -> Source:
    """Read and parse ``rel`` under ``root``; raise ``SourceError`` with a located problem
    when it cannot be read (missing, a directory, outside the repository, not a regular
    file, too large) or parsed."""
    try:
        raw = repo_files.read_bounded(root, rel, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise SourceError(Problem(rel, None, "", "file not found")) from None
    except IsADirectoryError:
        raise SourceError(Problem(rel, None, "", "is a directory, not a file",
                                  "point at a YAML file, or rename the directory")) from None
    except repo_files.TooLarge:
        raise SourceError(_too_large(rel)) from None
    except repo_files.PathRefused as exc:
        raise SourceError(Problem(rel, None, "", exc.message, exc.hint)) from None
    return parse_source(raw, rel)


def _too_large(display: str) -> Problem:
    return Problem(display, None, "",
                   f"file is over {MAX_CONFIG_BYTES // 1024} KiB; config files are limited to "
                   f"{MAX_CONFIG_BYTES // 1024} KiB",
                   "check that this is the file you meant; generated data belongs elsewhere")


def parse_source(raw: bytes, display: str) -> Source:
    """Parse bytes as YAML (JSON is a subset) and record each field's line."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise SourceError(_too_large(display))
    if b"\x00" in raw:
        raise SourceError(
            Problem(display, None, "", "is a binary file, not YAML", "point at a text YAML file")
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            Problem(display, line, "", "is not valid UTF-8 text", "save the file as UTF-8")
        ) from None
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad:
        raise SourceError(
            Problem(display, text[: bad.start()].count("\n") + 1, "",
                    f"contains the control character #x{ord(bad.group()[0]):04x}, "
                    "which YAML does not allow",
                    "remove it, or write it as an escape (\\x01) inside a double-quoted string")
        )
    if display.lower().endswith(".json"):
        _check_json(text, display)
    return _quick(text, display) or _located(text, display)


def _check_json(text: str, display: str) -> None:
    """A ``.json`` file is read as JSON: its syntax errors are worded as JSON's, not YAML's."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(Problem(
            display, exc.lineno, "", f"JSON syntax error: {exc.msg} (line {exc.lineno} "
            f"column {exc.colno})",
            "check for a missing comma between fields, a trailing comma before '}' or ']', "
            "and double quotes (\"...\") around every name and text value")) from None
    except RecursionError:
        raise SourceError(Problem(display, None, "", "nesting is too deep",
                                  "flatten the structure; config files are a few levels deep"),
                          ) from None


def _located(text: str, display: str) -> Source:
    """Parse ``text`` recording the line of every field; a located problem if it is broken."""
    if _Loader is not yaml.SafeLoader:
        fast = _Loader(text)
        try:
            return _clamped(_parse(fast, display), text.count("\n") + 1)
        except (yaml.YAMLError, RecursionError):
            pass  # the pure-Python parser below words the error precisely
        finally:
            fast.dispose()
    return _parse(yaml.SafeLoader(text), display)


def _quick(text: str, display: str) -> Source | None:
    """The data of a plain, well-formed file without recording lines; None for anything else.

    See ``plain_yaml``: what it cannot read exactly takes the located path, which words each
    problem. A file read here has its lines found again only if a problem needs them.
    """
    data = plain_data(text, max_values=MAX_NODES, max_depth=_QUICK_DEPTH)
    return None if data is None else Source(display, data, text)


def _clamped(source: Source, last: int) -> Source:
    """libyaml marks an empty value at the very end one line past the file: pull it back."""
    for lines in (source.key_lines, source.value_lines):
        for key, line in lines.items():
            if line > last:
                lines[key] = last
    return source


def _parse(loader: yaml.SafeLoader, display: str) -> Source:
    """Compose, record lines and construct; turn YAML errors into a located problem."""
    if isinstance(loader, getattr(yaml, "CSafeLoader", ())):
        node = loader.get_single_node()
        if node is None:
            raise SourceError(
                Problem(display, None, "", "file is empty", "see the example in README.md"))
        source = Source.located(display, None, {}, {})
        _record(node, (), source, display, [MAX_NODES], open_nodes=set())
        return Source.located(display, _construct(loader, node, display), source.key_lines,
                              source.value_lines)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(
                Problem(display, None, "", "file is empty", "see the example in README.md")
            )
        source = Source.located(display, None, {}, {})
        _record(node, (), source, display, [MAX_NODES], open_nodes=set())
        data = _construct(loader, node, display)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        mark_line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        # The context says where the broken construct began (an unclosed quote is only
        # noticed at the end of the file): name its line too.
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            what += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise SourceError(
            Problem(display, mark_line, "", f"YAML syntax error: {what}",
                    "check indentation (spaces, not tabs) and quoting around ':' and '#'")
        ) from None
    except yaml.YAMLError as exc:
        raise SourceError(Problem(display, None, "", f"YAML error: {exc}",
                                  "check that the file is YAML")) from None
    except RecursionError:
        raise SourceError(Problem(display, None, "",
                                  "nesting is too deep (or an alias refers to itself)",
                                  "flatten the structure; config files are a few levels deep"),
                          ) from None
    finally:
        loader.dispose()
    return Source.located(display, data, source.key_lines, source.value_lines)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, display: str) -> Any:
    """The data of ``node``; a located problem for a value YAML resolves but cannot build
    (``2024-13-45`` looks like a date to YAML)."""
    try:
        return loader.construct_document(node)
    except ValueError as exc:
        bad = _unbuildable(node)
        line = bad.start_mark.line + 1 if bad is not None else None
        raise SourceError(Problem(
            display, line, "", f"YAML cannot read the value{f' {bad.value!r}' if bad else ''}: "
            f"{exc}", "quote it to keep it as text, e.g. \"2024-13-45\"")) from None


def _unbuildable(root: yaml.Node) -> yaml.ScalarNode | None:
    """The first scalar that YAML's safe constructor refuses."""
    builder = yaml.constructor.SafeConstructor()
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                builder.construct_object(node)
            except ValueError:
                return node
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None


_TEXT_KEY_TAGS = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"})
_TAG_WORDS = {"int": "a number", "float": "a number", "bool": "true or false",
              "null": "nothing (null)", "timestamp": "a date", "binary": "binary data"}


def _key_not_text(display: str, line: int, path: PathKey, node: yaml.Node) -> Problem:
    """A mapping key YAML reads as something other than text (``123:``, ``true:``, ``~:``)."""
    if not isinstance(node, yaml.ScalarNode):
        return Problem(display, line, dotted(path), "a list or mapping is used as a key",
                       "keys are names: write a plain name before the ':'")
    kind = _TAG_WORDS.get(node.tag.rsplit(":", 1)[-1], f"a value tagged {node.tag}")
    shown = ascii(node.value)[1:-1][:40]
    return Problem(display, line, dotted((*path, shown)) if shown else dotted(path),
                   f"the key '{shown}' is read by YAML as {kind}, not as a name",
                   f"keys are names: quote it ('{shown}':) if you meant it as text")


def _record(
    node: yaml.Node, path: PathKey, source: Source, display: str, budget: list[int], *,
    open_nodes: set[int],
) -> None:
    if id(node) in open_nodes:  # `a: &a [*a]`: an alias inside the node it names
        raise SourceError(
            Problem(display, source.line(path), dotted(path),
                    "an alias refers to the value that contains it",
                    "write the value out; it cannot contain itself")
        )
    budget[0] -= 1
    if budget[0] < 0:  # aliases can make a small file expand enormously ("billion laughs")
        raise SourceError(
            Problem(display, node.start_mark.line + 1, dotted(path),
                    f"file expands to more than {MAX_NODES} values (through anchors and aliases)",
                    "write the values out; config files do not need deep alias chains")
        )
    source.value_lines[path] = node.start_mark.line + 1
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key_node.tag not in _TEXT_KEY_TAGS:
                raise SourceError(_key_not_text(display, line, path, key_node))
            if key in seen and key != "<<":
                raise SourceError(
                    Problem(
                        display, line, dotted((*path, key)),
                        f"duplicate key '{key}' (first at line {seen[key]})",
                        "YAML keeps only the last one; remove or merge the duplicates",
                    )
                )
            seen[key] = line
            source.key_lines[(*path, key)] = line
            _record(value_node, (*path, key), source, display, budget, open_nodes=open_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), source, display, budget, open_nodes=open_nodes)
    open_nodes.discard(id(node))
