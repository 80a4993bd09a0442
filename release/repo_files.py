"""Files named by config, read only from inside the repository.

Whoever can push a branch can commit a symbolic link. A link from a configured path (or
from anything under a configured directory) to ``/etc/shadow``, ``/proc/self/environ`` or
a file of another checkout must not be read, hashed, rendered or uploaded; a link to
``/dev/zero`` or a FIFO must not hang or exhaust the job. So every path is resolved before
use, must stay under the repository's real root, must be a regular file (or a directory
where one is wanted), and is read with a size bound.

The checks and the read use the same resolved path, opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked again with ``fstat``: a link swapped in between the two cannot
redirect the read, and a FIFO put in place of a file cannot block it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class PathRefused(Exception):  # noqa: N818 - reads as what happened: the path was refused
    """A configured path that must not be read; says why and how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class TooLarge(PathRefused):
    """A file over its size limit (``limit`` bytes)."""

    def __init__(self, rel: str, limit: int) -> None:
        super().__init__(
            f"'{rel}' is larger than {_size(limit)}, the limit for this kind of file",
            "check that this is the file you meant; generated data belongs elsewhere")
        self.limit = limit


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def _real_root(root: Path) -> str:
    return os.path.realpath(root)


def _inside(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


class Tree:
    """A repository root, resolving paths under it with one ``lstat`` per new component.

    ``os.path.realpath`` checks every component of the absolute path on each call; a
    release.yaml of 1,000 services asks for a few thousand paths that share their leading
    directories, so the directories resolved once are remembered (for the life of one
    command: a config is loaded once).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = _real_root(root)
        self._dirs: dict[str, str] = {"": self.real_root}

    def resolve(self, rel: str) -> str:
        """``rel`` with every symbolic link resolved; refused when it leaves the root."""
        real = self._resolved(rel)
        if not _inside(self.real_root, real):
            joined = os.path.join(self.real_root, rel)  # noqa: PTH118
            raise PathRefused(
                f"'{rel}' leads outside the repository (a symbolic link resolves to "
                f"{_shown_target(joined)})",
                "commit the file itself, or point the link at a file inside the repository; "
                "release reads nothing outside the repository",
            )
        return real

    def _resolved(self, rel: str) -> str:
        parts = [p for p in rel.split("/") if p not in {"", "."}]
        if rel.startswith("/") or ".." in parts:
            return os.path.realpath(os.path.join(self.real_root, rel))  # noqa: PTH118
        key, real = "", self.real_root
        for index, part in enumerate(parts):
            key = f"{key}/{part}" if key else part
            known = self._dirs.get(key)
            if known is not None:
                real = known
                continue
            candidate = os.path.join(real, part)  # noqa: PTH118
            if os.path.islink(candidate):  # noqa: PTH114
                # A link: let realpath follow it (and any links in its target) properly.
                rest = "/".join(parts[index + 1:])
                return os.path.realpath(os.path.join(candidate, rest) if rest else candidate)  # noqa: PTH118
            real = candidate
            if index < len(parts) - 1:
                self._dirs[key] = real
        return real

    def check_kind(self, rel: str, *, want_dir: bool | None) -> str:
        """The resolved path of ``rel``, which must exist inside the root and be a regular
        file (``want_dir=False``), a directory (``True``) or either (``None``)."""
        real = self.resolve(rel)
        try:
            mode = os.stat(real).st_mode  # noqa: PTH116
        except OSError:
            raise FileNotFoundError(rel) from None
        is_dir = stat.S_ISDIR(mode)
        if stat.S_ISREG(mode) or (is_dir and want_dir is not False):
            if want_dir is True and not is_dir:
                raise NotADirectoryError(rel)
            return real
        if is_dir:
            raise IsADirectoryError(rel)
        raise PathRefused(f"'{rel}' is {kind_of(mode)}, not a regular file",
                          "point at a regular file committed to the repository")


def resolve(root: Path, rel: str) -> Path:
    """``root/rel`` with every symbolic link resolved; refused when it leaves ``root``."""
    return Path(Tree(root).resolve(rel))


def _shown_target(joined: str) -> str:
    """Where the first link on the way points, as written in the link (never the content)."""
    current = joined
    parts: list[str] = []
    while True:
        try:
            if os.path.islink(current):  # noqa: PTH114
                return repr(os.readlink(current))[:120]  # noqa: PTH115
        except OSError:
            break
        head, tail = os.path.split(current)
        if not tail or head == current:
            break
        parts.append(tail)
        current = head
    return "a path outside it"


def check_kind(root: Path, rel: str, *, want_dir: bool | None) -> Path:
    """The resolved path of ``rel``, which must exist inside ``root`` and be a regular file
    (``want_dir=False``), a directory (``True``) or either (``None``)."""
    return Path(Tree(root).check_kind(rel, want_dir=want_dir))


def read_bounded(root: Path, rel: str, limit: int) -> bytes:
    """The bytes of the regular file ``rel`` inside ``root``, at most ``limit`` of them.

    Raises ``PathRefused`` (outside the repository, not a regular file, too large),
    ``FileNotFoundError`` or ``IsADirectoryError``.
    """
    real = check_kind(root, rel, want_dir=False)
    return read_file_bounded(real, rel, limit)


def open_regular(real: str | Path, rel: str) -> IO[bytes]:
    """``real``, a resolved path, opened for reading without following a link or blocking
    on a FIFO, and checked with ``fstat`` to be a regular file (``PathRefused`` if not)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise PathRefused(f"'{rel}' cannot be read: {exc.strerror}",
                          "check that the file is committed and readable") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise PathRefused(f"'{rel}' is {kind_of(mode)}, not a regular file",
                          "point at a regular file committed to the repository")
    return os.fdopen(fd, "rb")


def read_file_bounded(real: str | Path, rel: str, limit: int) -> bytes:
    """Read an already resolved regular file, refusing anything else or anything larger."""
    with open_regular(real, rel) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(rel, limit)
    return data


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


MAX_FILES = 100_000  # under one configured directory: far more than any model or asset set


def files_under(root: Path, rel: str) -> Iterator[tuple[str, Path]]:
    """Every regular file under the directory ``rel`` (or ``rel`` itself when it is a file),
    as (its path relative to ``rel``, its resolved path), in sorted order.

    Links are followed only while they stay inside ``root`` (a directory linked twice is
    read twice, as ``cp -rL`` would); a link that leaves it, a special file, a link back
    into a directory being read (a loop) or more than ``MAX_FILES`` files raise
    ``PathRefused``.
    """
    tree = Tree(root)
    top = Path(tree.check_kind(rel, want_dir=None))
    if not top.is_dir():
        yield "", top
        return
    budget = [MAX_FILES]
    yield from _walk(tree, rel, top, frozenset({str(top)}), budget)


def _walk(tree: Tree, rel: str, directory: Path, ancestors: frozenset[str],
          budget: list[int]) -> Iterator[tuple[str, Path]]:
    base = rel.rstrip("/")
    with os.scandir(directory) as found:
        entries = sorted(found, key=lambda e: e.name)
    for entry in entries:
        name = f"{base}/{entry.name}"
        budget[0] -= 1
        if budget[0] < 0:
            raise PathRefused(f"'{rel}' holds more than {MAX_FILES} files",
                              "publish a smaller directory, or an archive of it")
        real = Path(tree.resolve(os.path.relpath(directory / entry.name, tree.real_root)))
        try:
            mode = os.stat(real).st_mode  # noqa: PTH116
        except OSError as exc:
            loop = exc.errno == errno.ELOOP
            raise PathRefused(
                f"'{name}' is a symbolic link " + ("loop" if loop else "to nothing"),
                "remove the link, or commit what it points to") from None
        if stat.S_ISDIR(mode):
            if str(real) in ancestors:
                raise PathRefused(f"'{name}' leads back into a directory being read "
                                  "(a symbolic link loop)", "remove the link")
            for sub, path in _walk(tree, name, real, ancestors | {str(real)}, budget):
                yield f"{entry.name}/{sub}", path
        elif stat.S_ISREG(mode):
            yield entry.name, real
        else:
            raise PathRefused(f"'{name}' is {kind_of(mode)}, not a regular file",
                              "remove it; only regular files are published")


def links_leaving(root: Path, rel: str) -> list[tuple[str, str]]:
    """Symbolic links under the directory ``rel`` whose target resolves outside ``root``:
    (the link's path relative to ``root``, its text). Links are not followed.

    A build context is sent to the builder as it is, links as links (neither Docker's
    classic builder nor BuildKit follows one out of the context), so such a link leaks
    nothing into an image; it is refused anyway, so that nothing in a reviewed tree
    points outside it.
    """
    real_root = _real_root(root)
    top = os.path.join(real_root, rel)  # noqa: PTH118
    found = []
    for folder, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)  # noqa: PTH118
            if os.path.islink(path) and not _inside(real_root, os.path.realpath(path)):  # noqa: PTH114
                found.append((os.path.relpath(path, real_root),
                              os.readlink(path)))  # noqa: PTH115
    return sorted(found)


def check_new(root: Path, rel: str) -> None:
    """Refuse ``rel`` as a new file under ``root``: not relative, leaving the repository, a
    symbolic link among its existing directories, or the file there already."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise PathRefused(f"{rel!a} is not a path inside the repository", "a relative path")
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return  # made by write_new
        if stat.S_ISLNK(mode):
            raise PathRefused(f"{rel!a}: {current.relative_to(root)} is a symbolic link",
                              "write the files into a plain directory")
        if not stat.S_ISDIR(mode):
            raise PathRefused(f"{rel!a}: {current.relative_to(root)} is {kind_of(mode)}",
                              "move it away first")
    if os.path.lexists(root / rel):
        raise PathRefused(f"{rel!a} exists already", "move it away first")


def write_new(root: Path, rel: str, text: str) -> None:
    """Create ``rel`` under ``root`` holding ``text``; never through a symbolic link (a link
    among its directories, or at the file, is refused) and never over an existing file."""
    check_new(root, rel)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(root / rel, flags, 0o644)
    except FileExistsError:
        raise PathRefused(f"{rel!a} exists already", "move it away first") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
