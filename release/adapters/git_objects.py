"""Git objects through one ``git cat-file --batch`` process: trees parsed into entries,
blobs, the entries of given paths, and whole listings as ``git ls-tree -r`` prints them."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO, cast

from release.adapters.git_links import TREE_MODE, TooLargeError, path_steps
from release.errors import ReleaseError

GIT_TIMEOUT = 120  # seconds any one git process may take


def listings(reader: ObjectReader, trees: list[str]) -> dict[str, list[tuple[str, str]]]:
    """For each tree: what ``git ls-tree -r`` prints, as (``mode type id``, path) pairs."""
    contents: dict[str, dict[str, tuple[bytes, str]]] = {}
    level = set(trees)
    while level:
        wanted = sorted(level)
        contents.update(zip(wanted, reader.entries(wanted), strict=True))
        level = {oid for tree in wanted for mode, oid in contents[tree].values()
                 if mode == TREE_MODE} - contents.keys()

    def walk(tree: str, prefix: str, out: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for name, (mode, oid) in contents[tree].items():
            if mode == TREE_MODE:
                walk(oid, f"{prefix}{name}/", out)
            else:
                out.append((_ls_tree_meta(mode, oid), prefix + name))
        return out

    return {tree: walk(tree, "", []) for tree in trees}


def _ls_tree_meta(mode: bytes, oid: str) -> str:
    """``100644 blob <id>`` as ``git ls-tree`` prints an entry (its mode made canonical)."""
    number = int(mode, 8)
    kind = number & 0o170000
    if kind == 0o100000:
        return f"{0o100755 if number & 0o100 else 0o100644:06o} blob {oid}"
    if kind == 0o120000:
        return f"120000 blob {oid}"
    return f"160000 commit {oid}"


def existing(root: Path, tree: str, paths: list[str]) -> dict[str, str]:
    """The id of each path that exists in ``tree`` (see ``lookup``)."""
    with ObjectReader(root, len(tree) // 2) as reader:
        return lookup(reader, tree, paths)


def lookup(reader: ObjectReader, tree: str, paths: list[str]) -> dict[str, str]:
    """The id of each path that exists in ``tree`` (see ``entries_of``)."""
    return {path: oid for path, (_, oid) in entries_of(reader, tree, paths).items()}


def entries_of(reader: ObjectReader, tree: str, paths: list[str],
                folders: dict[tuple[str, ...], dict[str, tuple[bytes, str]]] | None = None
                ) -> dict[str, tuple[bytes, str]]:
    """The (mode, id) of each path that exists in ``tree``, reading only the trees on the way.

    ``git cat-file --batch-check TREE:PATH`` looks each path up from the root, inflating
    the shared parents (a 1,000-entry ``services/`` tree) once per path: quadratic in
    services. Here each directory on the way is read once, level by level, through one
    ``git cat-file --batch`` process, so the cost follows the number of paths and the size
    of the directories that hold them, never the whole repository. ``folders``, when
    given, gets the entries of each directory read, by its steps (``("a", "b")``).
    """
    parts = {p: path_steps(p) for p in paths}
    children: dict[tuple[str, ...], set[str]] = {}  # directory -> subdirectories to open
    for folder in {steps[:-1] for steps in parts.values()}:
        children.setdefault(folder, set())
        for depth in range(len(folder)):
            children.setdefault(folder[:depth], set()).add(folder[depth])
    listings: dict[tuple[str, ...], dict[str, tuple[bytes, str]]] = (
        {} if folders is None else folders)
    level: dict[tuple[str, ...], str] = {(): tree}
    while level:
        opened = reader.entries(list(level.values()))
        below: dict[tuple[str, ...], str] = {}
        for folder, entries in zip(level, opened, strict=True):
            listings[folder] = entries
            for name in children.get(folder, ()):
                mode_id = entries.get(name)
                if mode_id is not None and mode_id[0] == TREE_MODE:
                    below[(*folder, name)] = mode_id[1]
        level = below
    found: dict[str, tuple[bytes, str]] = {}
    for path, steps in parts.items():
        if not steps:
            found[path] = (TREE_MODE, tree)
        elif (entry := listings.get(steps[:-1], {}).get(steps[-1])) is not None:
            found[path] = entry
    return found


class ObjectReader:
    """Objects (trees parsed) from one ``git cat-file --batch`` process (killed after the
    usual timeout if git hangs)."""

    _CHUNK = 256  # requests in flight: ~10 KB, well under a pipe's buffer, so no deadlock

    def __init__(self, root: Path, id_bytes: int) -> None:
        if shutil.which("git") is None:
            raise ReleaseError("git is not installed", "install git (apt-get install git)")
        self.root = root
        self.entry = re.compile(rb"(\d+) ([^\0]*)\0(.{%d})" % id_bytes, re.DOTALL)
        self.proc = subprocess.Popen(["git", "-C", str(root), "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        # Both pipes exist: they were asked for just above.
        self.stdin = cast("IO[bytes]", self.proc.stdin)
        self.stdout = cast("IO[bytes]", self.proc.stdout)
        self.watchdog = threading.Timer(GIT_TIMEOUT, self.proc.kill)
        self.watchdog.start()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.watchdog.cancel()
        self.stdin.close()
        self.proc.kill()
        self.proc.wait()
        self.stdout.close()

    def entries(self, trees: list[str]) -> list[dict[str, tuple[bytes, str]]]:
        """For each tree id: entry name -> (mode, object id), in the tree's order."""
        return [self._parse(body) for body in self.read(trees, b"tree")]

    def read(self, ids: list[str], kind: bytes, limit: int | None = None) -> list[bytes]:
        """The content of each object, which must be of ``kind`` (``b"tree"``, ``b"blob"``)
        and, with ``limit``, at most that many bytes (``TooLargeError``: the reader is then
        out of step and must be closed)."""
        out = []
        for start in range(0, len(ids), self._CHUNK):
            chunk = ids[start:start + self._CHUNK]
            try:
                self.stdin.write("".join(f"{oid}\n" for oid in chunk).encode())
                self.stdin.flush()
            except OSError:
                raise self._failed() from None
            for _ in chunk:
                header = self.stdout.readline().split()
                if len(header) != 3 or header[1] != kind:
                    raise self._failed()
                size = int(header[2])
                if limit is not None and size > limit:
                    raise TooLargeError(header[0].decode(), size)
                out.append(self.stdout.read(size + 1)[:-1])
        return out

    def _parse(self, body: bytes) -> dict[str, tuple[bytes, str]]:
        # A tree object: "<mode> <name>\0<binary id>" for each entry, back to back.
        return {name.decode("utf-8", "surrogateescape"): (mode, oid.hex())
                for mode, name, oid in self.entry.findall(body)}

    def _failed(self) -> ReleaseError:
        return ReleaseError(f"git cat-file failed in {self.root}",
                            "run release from inside a git checkout of the repository")
