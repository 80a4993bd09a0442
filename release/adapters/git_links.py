"""Symbolic links inside a git tree, resolved as a checkout of the tree would resolve them.

Build and config keys cover what a link points to (``Links``); a link that leaves the
repository, is absolute, dangles, loops or is longer than PATH_MAX is a ``LinkError``.
Objects are read through the caller's ``git cat-file --batch`` process (``TreeReader``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from release.errors import EXIT_CONFIG, ReleaseError

TREE_MODE = b"40000"


def path_steps(path: str) -> tuple[str, ...]:
    """``a/b`` as ``("a", "b")``; ``.`` and empty steps (``./a``, ``a//b``, ``a/``) dropped."""
    steps = tuple(path.split("/"))
    if "" in steps or "." in steps:
        steps = tuple(step for step in steps if step not in ("", "."))
    return steps


class TooLargeError(Exception):
    """An object larger than the caller allowed."""

    def __init__(self, oid: str, size: int) -> None:
        super().__init__(oid)
        self.oid = oid
        self.size = size


class TreeReader(Protocol):
    """Objects of one repository, read through one git process (``git_objects.ObjectReader``)."""

    entry: re.Pattern[bytes]  # one entry of a tree object: mode, name, binary id

    def entries(self, trees: list[str]) -> list[dict[str, tuple[bytes, str]]]:
        """For each tree id: entry name -> (mode, object id), in the tree's order."""
        ...

    def read(self, ids: list[str], kind: bytes, limit: int | None = None) -> list[bytes]:
        """The content of each object (``TooLargeError`` past ``limit`` bytes)."""
        ...


class LinkError(ReleaseError):
    """A symbolic link under a keyed path leads outside the repository, to nothing, or in
    a loop: the input is wrong (exit code 2), as it is for the loader."""

    exit_code = EXIT_CONFIG


class _UnresolvedError(Exception):
    """Why a path in the tree cannot be resolved; ``link`` is None when no link was followed
    (the path is simply not in git)."""

    def __init__(self, why: str, link: str | None, text: str = "") -> None:
        super().__init__(why)
        self.why = why
        self.link = link
        self.text = text


_LINK_MODE = b"120000"
_MAX_HOPS = 40  # links followed to resolve one path: the kernel's limit (ELOOP)
_MAX_DEPTH = 64  # directories reached through links, one inside the other's resolution
_MAX_LINK_BYTES = 4096  # PATH_MAX: a longer link cannot exist in a checkout
_LINK_PROBLEMS = {  # why -> (what the link does, how to fix it)
    "outside": ("leads outside the repository",
                "release reads nothing outside the repository: point the link at a file "
                "committed to the repository, or commit the file itself in its place"),
    "absolute": ("is absolute: a different file on every machine, never followed",
                 "use a relative link to a file committed to the repository"),
    "missing": ("points to nothing in git",
                "build keys are computed from git and cover what links point to: commit the "
                "target (is it in .gitignore?), or remove the link"),
}


class Links:
    """Symbolic links resolved inside one git tree, as a checkout of it would resolve them.

    A path's id is its git id when no link is in it. A link's id is the id of what it
    resolves to (so replacing a link by a copy of its target keeps the key). A tree holding
    links gets ``lnk-`` + a hash of its tree id and, for each link under it, the link's path
    and the id of its target (a tree target counted the same way). So a change to a target's
    content changes the key, and a repository without links keeps every key it had. Trees
    are read through the shared ``cat-file`` process, each once, level by level.
    """

    def __init__(self, reader: TreeReader, tree: str) -> None:
        self.reader = reader
        self.tree = tree
        self.trees: dict[str, dict[str, tuple[bytes, str]]] = {}  # tree id -> its entries
        # tree id -> only its subtrees and links: (name, mode, id); most trees hold neither
        self.kids: dict[str, list[tuple[str, bytes, str]]] = {}
        self.under: dict[str, list[tuple[str, str]]] = {}  # tree id -> links: (path, blob id)
        self.texts: dict[str, str] = {}  # link blob id -> the link's text
        self.keyed: dict[str, str] = {}  # real path -> its id
        self.active: list[str] = []  # real paths being keyed: meeting one again is a loop

    def ids(self, entries: dict[str, tuple[bytes, str] | None]
            ) -> tuple[dict[str, str], dict[str, LinkError]]:
        """The id of each path (its ``git_objects.entries_of`` entry, None when not found on
        the way), and the error for each path whose links lead nowhere; a path simply not in
        git is in neither."""
        self._load([oid for mode, oid in filter(None, entries.values()) if mode == TREE_MODE])
        out: dict[str, str] = {}
        refused: dict[str, LinkError] = {}
        for path, entry in entries.items():
            try:
                if entry is None or entry[0] == _LINK_MODE:  # a link, or a path through one
                    out[path] = self._key(*self._real(path))
                elif entry[0] != TREE_MODE or not self._links_under(entry[1]):
                    out[path] = entry[1]
                else:
                    out[path] = self._key("/".join(path_steps(path)), *entry)
            except _UnresolvedError as broken:
                if broken.link is not None:
                    refused[path] = self._error(path, broken)
        return out, refused

    def _error(self, path: str, broken: _UnresolvedError) -> LinkError:
        where = "" if broken.link == path else f" (under '{path}')"
        if broken.why == "loop":
            return LinkError(f"'{broken.link}'{where} is part of a symbolic link loop",
                             "remove the link, or point it at a file instead")
        if broken.why == "deep":
            return LinkError(f"'{broken.link}'{where}: symbolic links lead through more "
                             f"than {_MAX_DEPTH} directories", "remove some of the links")
        what, hint = _LINK_PROBLEMS[broken.why]
        return LinkError(f"'{broken.link}'{where} is a symbolic link to "
                         f"{broken.text[:200]!r}, which {what}", hint)

    def _key(self, real: str, mode: bytes, oid: str) -> str:
        """The id of the resolved path ``real``, covering the targets of links under it."""
        if mode != TREE_MODE:
            return oid
        links = self._links_under(oid)
        if not links:
            return oid
        if real in self.keyed:
            return self.keyed[real]
        self.active.append(real)
        try:
            self._texts_of([blob for _, blob in links])
            digest = hashlib.sha256(f"{oid}\n".encode())
            for rel, blob in links:
                link = f"{real}/{rel}" if real else rel
                target, kind, target_id = self._real(link)
                if kind == TREE_MODE and target in self.active:
                    raise _UnresolvedError("loop", link, self.texts[blob])
                if len(self.active) >= _MAX_DEPTH:
                    raise _UnresolvedError("deep", link, self.texts[blob])
                key = self._key(target, kind, target_id)
                digest.update(f"{rel}\t{key}\n".encode("utf-8", "surrogateescape"))
        finally:
            self.active.pop()
        self.keyed[real] = "lnk-" + digest.hexdigest()[:40]
        return self.keyed[real]

    def _real(self, path: str) -> tuple[str, bytes, str]:
        """``path`` with every link resolved, like ``realpath`` in a checkout: the resolved
        path, its mode and id; ``_UnresolvedError`` when it leaves the tree, loops or is missing."""
        done: list[str] = []
        oids = [self.tree]  # the tree of each directory in ``done``, the root first
        mode, oid = TREE_MODE, self.tree
        todo = list(reversed(path.split("/")))
        hops, link, text = 0, None, ""
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if mode != TREE_MODE:
                    raise _UnresolvedError("missing", link, text)
                if not done:
                    raise _UnresolvedError("outside", link, text)
                done.pop()
                oids.pop()
                mode, oid = TREE_MODE, oids[-1]
                continue
            entry = self._entries(oid).get(part) if mode == TREE_MODE else None
            if entry is None:
                raise _UnresolvedError("missing", link, text)
            if entry[0] == _LINK_MODE:
                hops += 1
                link = "/".join((*done, part))
                if hops > _MAX_HOPS:
                    raise _UnresolvedError("loop", link)
                text = self._texts_of([entry[1]])[0]
                if text.startswith("/"):  # another file on every machine: never followed
                    raise _UnresolvedError("absolute", link, text)
                todo.extend(reversed(text.split("/")))
                continue
            done.append(part)
            mode, oid = entry
            oids.append(oid)
        return "/".join(done), mode, oid

    def _entries(self, tree: str) -> dict[str, tuple[bytes, str]]:
        if tree not in self.trees:
            self.trees[tree] = self.reader.entries([tree])[0]
        return self.trees[tree]

    def _load(self, trees: list[str]) -> None:
        """Scan every tree under ``trees`` not scanned yet for subtrees and links, one batch
        per level. A tree whose bytes hold neither mode is not parsed at all."""
        level = set(trees) - self.kids.keys()
        while level:
            wanted = sorted(level)
            for tree, body in zip(wanted, self.reader.read(wanted, b"tree"), strict=True):
                self.kids[tree] = ([] if b"40000 " not in body and b"120000 " not in body else
                                   [(name.decode("utf-8", "surrogateescape"), mode, oid.hex())
                                    for mode, name, oid in self.reader.entry.findall(body)
                                    if mode in (TREE_MODE, _LINK_MODE)])
            level = {oid for tree in wanted for _, mode, oid in self.kids[tree]
                     if mode == TREE_MODE} - self.kids.keys()

    def _links_under(self, top: str) -> list[tuple[str, str]]:
        """Every link under the tree ``top``: (its path below ``top``, its blob id)."""
        if top in self.under:
            return self.under[top]
        self._load([top])
        stack = [(top, False)]
        while stack:  # children before parents, without recursion: trees can be deep
            tree, ready = stack.pop()
            if tree in self.under:
                continue
            kids = self.kids[tree]
            if not ready:
                stack.append((tree, True))
                stack.extend((oid, False) for _, mode, oid in kids
                             if mode == TREE_MODE and oid not in self.under)
                continue
            links: list[tuple[str, str]] = []
            for name, mode, oid in kids:
                if mode == _LINK_MODE:
                    links.append((name, oid))
                else:
                    links.extend((f"{name}/{rel}", blob) for rel, blob in self.under[oid])
            self.under[tree] = links
        return self.under[top]

    def _texts_of(self, blobs: list[str]) -> list[str]:
        """The text of each link (read once, in one batch)."""
        unread = sorted(set(blobs) - self.texts.keys())
        if unread:
            try:
                raw_texts = self.reader.read(unread, b"blob", _MAX_LINK_BYTES)
            except TooLargeError as exc:  # no file system would hold it: never read it
                raise LinkError(f"a symbolic link in git (object {exc.oid[:12]}) is "
                                f"{exc.size} bytes long, longer than any path",
                                "remove the link; find it with `git ls-tree -r HEAD | "
                                "grep ^120000`") from None
            for blob, raw in zip(unread, raw_texts, strict=True):
                self.texts[blob] = raw.decode("utf-8", "surrogateescape")
        return [self.texts[blob] for blob in blobs]
