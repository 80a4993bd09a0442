"""Read a YAML (or JSON) file into plain data plus the line of every field.

Positions are kept beside the data, keyed by the field's path, so that schema errors,
cross-file checks and plaintext-secret checks can all say ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from release.errors import Problem

MAX_CONFIG_BYTES = 1024 * 1024  # real config files are a few KB; 1 MiB is generous
MAX_NODES = 100_000
# libyaml's parser is ~8x faster than the pure-Python one on large files (1,000 services).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """A parsed file: its data, and the line of each key and value by path."""

    path: str
    data: Any
    key_lines: dict[PathKey, int] = field(default_factory=dict)
    value_lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int | None:
        """Line of the field at ``path``: its key when it has one, else its value."""
        probe = tuple(path)
        while True:
            if probe in self.key_lines:
                return self.key_lines[probe]
            if probe in self.value_lines:
                return self.value_lines[probe]
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


def read_source(path: Path, display: str) -> Source:
    """Read and parse ``path``; raise ``SourceError`` with a located problem when unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(Problem(display, None, "", "file not found")) from None
    except IsADirectoryError:
        raise SourceError(Problem(display, None, "", "is a directory, not a file",
                                  "point at a YAML file, or rename the directory")) from None
    except OSError as exc:
        raise SourceError(Problem(display, None, "", f"cannot read: {exc.strerror}",
                                  "check the file's permissions")) from None
    return parse_source(raw, display)


def parse_source(raw: bytes, display: str) -> Source:
    """Parse bytes as YAML (JSON is a subset) and record each field's line."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise SourceError(
            Problem(
                display, None, "",
                f"file is {len(raw) // 1024} KiB; config files are limited to "
                f"{MAX_CONFIG_BYTES // 1024} KiB",
                "check that this is the file you meant; generated data belongs elsewhere",
            )
        )
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
    if _Loader is not yaml.SafeLoader:
        fast = _Loader(text)
        try:
            return _clamped(_parse(fast, display), text.count("\n") + 1)
        except (yaml.YAMLError, RecursionError):
            pass  # the pure-Python parser below words the error precisely
        finally:
            fast.dispose()
    return _parse(yaml.SafeLoader(text), display)


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
        source = Source(display, None)
        _record(node, (), source, display, [MAX_NODES], open_nodes=set())
        return Source(display, loader.construct_document(node), source.key_lines,
                      source.value_lines)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(
                Problem(display, None, "", "file is empty", "see the example in README.md")
            )
        source = Source(display, None)
        _record(node, (), source, display, [MAX_NODES], open_nodes=set())
        data = loader.construct_document(node)
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
    return Source(display, data, source.key_lines, source.value_lines)


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
