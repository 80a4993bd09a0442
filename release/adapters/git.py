"""Git, through the git command: tree and blob ids of paths, and the commit at HEAD."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from release.adapters.git_links import TREE_MODE, Links, TooLargeError, path_steps
from release.adapters.git_links import LinkError as LinkError  # noqa: PLC0414 - re-exported
from release.errors import ReleaseError
from release.planning import dockerignore

_TIMEOUT = 120


@dataclass(frozen=True)
class Snapshot:
    """The tree a build sees: HEAD when the work tree is clean, else the work tree itself."""

    tree: str
    commit: str
    dirty: bool


def _git(root: Path, *args: str, stdin: str | None = None,
         env: dict[str, str] | None = None) -> str:
    if shutil.which("git") is None:
        raise ReleaseError("git is not installed", "install git (apt-get install git)")
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], input=stdin, capture_output=True, text=True,
            timeout=_TIMEOUT, check=False, env=env,
        )
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"git {args[0]} took more than {_TIMEOUT}s in {root}") from None
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise ReleaseError(f"git {' '.join(args[:2])} failed in {root}: {detail[0]}",
                           "run release from inside a git checkout of the repository")
    return done.stdout


def snapshot(root: Path) -> Snapshot:
    """The tree to key builds on, including uncommitted and untracked (not ignored) files."""
    with snapshot_in_background(root) as pending:
        return pending.result()


class PendingSnapshot:
    """A snapshot being taken: HEAD is known at once, whether the work tree differs later."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._head = subprocess.Popen(
            ["git", "-C", str(root), "rev-parse", "HEAD", "HEAD^{tree}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # One thread for the stat calls: the walk has time to spare while the caller works,
        # and git's parallel preload would take the core the caller runs on (on 2 cores,
        # 100,000 files: plan 0.53 s with it, 0.47 s without).
        self._status = subprocess.Popen(
            ["git", "-C", str(root), "-c", "core.preloadIndex=false", "status", "--porcelain",
             "--untracked-files=normal"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._head_snapshot: Snapshot | None = None

    def head(self) -> Snapshot:
        """The snapshot if the work tree turns out clean: HEAD's tree."""
        if self._head_snapshot is None:
            commit, tree = _output(self.root, self._head, "rev-parse HEAD").split()
            self._head_snapshot = Snapshot(tree, commit, dirty=False)
        return self._head_snapshot

    def result(self) -> Snapshot:
        """The snapshot: waits for git's walk of the work tree."""
        head = self.head()
        if not _output(self.root, self._status, "status").strip():
            return head
        return Snapshot(_work_tree(self.root), head.commit, dirty=True)

    def close(self) -> None:
        """Wait for what is still running (the caller failed before asking for the result).

        Never a kill mid-walk: ``git status`` may be writing the index, and a killed git
        leaves ``index.lock`` behind, which breaks the next git command. SIGTERM, which git
        cleans up after, only if it hangs.
        """
        for proc in (self._head, self._status):
            try:
                proc.communicate(timeout=_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.communicate()


@contextmanager
def snapshot_in_background(root: Path) -> Iterator[PendingSnapshot]:
    """``snapshot``, with git walking the work tree in its own process meanwhile; git's
    errors are reported when the result is asked for, after the caller's own. Leaving the
    block waits for git."""
    if shutil.which("git") is None:
        raise ReleaseError("git is not installed", "install git (apt-get install git)")
    pending = PendingSnapshot(root)
    try:
        yield pending
    finally:
        pending.close()


def _output(root: Path, proc: subprocess.Popen[str], what: str) -> str:
    """What a git process started by ``snapshot_in_background`` printed; its failure as
    the same error ``_git`` gives."""
    try:
        out, err = proc.communicate(timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"git {what} took more than {_TIMEOUT}s in {root}"
                           ) from None
    if proc.returncode != 0:
        detail = err.strip().splitlines()[-1:] or ["(no message)"]
        raise ReleaseError(f"git {what} failed in {root}: {detail[0]}",
                           "run release from inside a git checkout of the repository")
    return out


def _work_tree(root: Path) -> str:
    """The tree id of the work tree as ``git add --all`` would stage it."""
    # Hash the work tree through a throw-away copy of the index: the real index is untouched,
    # and the copied stat cache means only changed files are read.
    import tempfile  # only a dirty work tree needs it

    git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir").strip())
    with tempfile.TemporaryDirectory(prefix="release-index-") as tmp:
        index = Path(tmp) / "index"
        if (git_dir / "index").exists():
            shutil.copyfile(git_dir / "index", index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        _git(root, "add", "--all", "--", ".", env=env)
        return _git(root, "write-tree", env=env).strip()


def object_ids(root: Path, tree: str, paths: Iterable[str], *,
               missing_ok: bool = False) -> dict[str, str]:
    """The git object id of each path inside ``tree``, in one git process."""
    wanted = sorted(set(paths))
    ids = _existing(root, tree, wanted)
    missing = [p for p in wanted if p not in ids]
    if missing and not missing_ok:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot be "
            "part of a build key",
        )
    return ids


def _ignore_file(context: str) -> str:
    return ("" if context == "." else context + "/") + ".dockerignore"


CONTEXT_SEP = "\0"  # between a context and its Dockerfile in ``build_ids``' contexts
# The rules ``dockerignore.Matcher`` adds to a file's own (``!.dockerignore``: the Docker
# SDK always sends that file). BuildKit sends only what a Dockerfile's own file keeps.
_ALWAYS_SENT = dockerignore.Matcher([]).patterns


def _matcher(text: str, own: bool) -> dockerignore.Matcher:
    """The rules of an ignore file; of a Dockerfile's own one (``own``), without the rule
    that always sends the context's ``.dockerignore``."""
    matcher = dockerignore.Matcher(dockerignore.patterns_of(text))
    if own and _ALWAYS_SENT and matcher.patterns[-len(_ALWAYS_SENT):] == _ALWAYS_SENT:
        matcher.patterns = matcher.patterns[:-len(_ALWAYS_SENT)]
    return matcher


def _filtered(reader: _ObjectReader, entries: dict[str, tuple[bytes, str]],
              specs: list[tuple[str, str, str]],
              own: dict[str, tuple[bytes, str]]) -> dict[str, str]:
    """Each context's id as BuildKit would send it: its tree, minus what its ignore file drops.

    ``specs`` are (id's name, context, Dockerfile or ""); ``own`` the entry of each
    Dockerfile's own ignore file, ``<Dockerfile>.dockerignore``, that the tree has: BuildKit
    then reads it instead of the context's ``.dockerignore``. A context without an ignore
    file is just its git tree id. With one, the id is a hash of the listing that survives
    the ignore rules (the lines `git ls-tree -r` prints), so files the image never sees (a
    task definition, model files published to S3) do not change the build key.
    The context's ``.dockerignore`` is always in its own listing, so its rules are part of
    the key; a Dockerfile's own ignore file, usually outside the listing, is hashed first, by
    blob id, and then the context's ``.dockerignore`` counts only if the file keeps it.
    Every ignore file and every tree below those contexts is read through the one
    ``cat-file`` process: no git process per service, and a (tree, ignore file) pair shared
    by services is filtered once.
    """
    ids: dict[str, str] = {}
    chosen: dict[str, tuple[str, str, bool]] = {}  # name -> (tree, ignore blob, own file)
    for spec, context, dockerfile in specs:
        mine = own.get(dockerfile) if own else None
        if mine is not None:
            chosen[spec] = (entries[context][1], mine[1], True)
        elif (plain := entries.get(_ignore_file(context))) is not None:
            chosen[spec] = (entries[context][1], plain[1], False)
        else:
            ids[spec] = entries[context][1]
    if not chosen:
        return ids
    blobs = sorted({blob for _, blob, _ in chosen.values()})
    texts = dict(zip(blobs, reader.read(blobs, b"blob"), strict=True))
    listings = _listings(reader, sorted({tree for tree, _, _ in chosen.values()}))
    matchers: dict[tuple[bytes, bool], dockerignore.Matcher] = {}  # one per distinct file
    done: dict[tuple[str, str, bool], str] = {}
    for spec, how in chosen.items():
        if how in done:
            ids[spec] = done[how]
            continue
        tree, blob, is_own = how
        # The rules BuildKit applies when it sends the context to the build.
        matcher = matchers.get((texts[blob], is_own))
        if matcher is None:
            matcher = matchers[texts[blob], is_own] = _matcher(
                texts[blob].decode("utf-8", "replace"), is_own)
        digest = hashlib.sha256()
        if is_own:  # never a listing line: those start with a mode
            digest.update(f"dockerfile-ignore {blob}\n".encode())
        for meta, path in listings[tree]:
            if (path == ".dockerignore" and not is_own) or not matcher.excludes(path):
                digest.update(f"{meta}\t{path}\n".encode("utf-8", "surrogateescape"))
        ids[spec] = done[how] = "ctx-" + digest.hexdigest()[:40]
    return ids


def _listings(reader: _ObjectReader, trees: list[str]) -> dict[str, list[tuple[str, str]]]:
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


def _existing(root: Path, tree: str, paths: list[str]) -> dict[str, str]:
    """The id of each path that exists in ``tree`` (see ``_lookup``)."""
    with _ObjectReader(root, len(tree) // 2) as reader:
        return _lookup(reader, tree, paths)


def _lookup(reader: _ObjectReader, tree: str, paths: list[str]) -> dict[str, str]:
    """The id of each path that exists in ``tree`` (see ``_entries_of``)."""
    return {path: oid for path, (_, oid) in _entries_of(reader, tree, paths).items()}


def _entries_of(reader: _ObjectReader, tree: str, paths: list[str],
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


class _ObjectReader:
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
        self.watchdog = threading.Timer(_TIMEOUT, self.proc.kill)
        self.watchdog.start()

    def __enter__(self) -> _ObjectReader:
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


def build_ids(root: Path, tree: str, paths: Iterable[str], contexts: Iterable[str], *,
              missing_ok: bool = False) -> dict[str, str]:
    """Object ids for build keys, from one git process: build contexts filtered by their
    ignore file, every other path covering what its symbolic links point to.

    A context is ``path``, filtered by ``path/.dockerignore``, or ``path``, ``CONTEXT_SEP``
    and a Dockerfile (``buildkey.context_of``), filtered by the ignore file BuildKit reads
    for that Dockerfile (see ``_filtered``); each gets an id under the string given. (A
    context's path among ``paths`` too, when only asked for with a Dockerfile, keeps its git
    id under its path.)
    A build context keeps its links as links: Docker sends a link in a context as the link
    itself and never follows it, so the image holds the link text, which the tree id covers.
    Any other path (a Dockerfile, a watched path, a template, an S3 source) is read through
    its links by whoever uses it, so its id must change when a link's target does (see
    ``git_links.Links``). With ``missing_ok``, a path that is missing or whose links lead
    nowhere is left out instead of refused.
    """
    wanted_paths = set(paths)
    specs = sorted(set(contexts))
    parts = {spec: spec.partition(CONTEXT_SEP) for spec in specs}
    plain = {context for context, _, _ in parts.values()}
    dockerfiles = {dockerfile for _, _, dockerfile in parts.values() if dockerfile}
    ignores = {_ignore_file(c) for c in plain}
    with _ObjectReader(root, len(tree) // 2) as reader:
        # A Dockerfile's own ignore file is found in its directory, read for the Dockerfile.
        folders: dict[tuple[str, ...], dict[str, tuple[bytes, str]]] = {}
        entries = _entries_of(reader, tree, sorted(wanted_paths | plain | ignores | dockerfiles),
                              folders)
        own: dict[str, tuple[bytes, str]] = {}
        for dockerfile in dockerfiles:
            if (steps := path_steps(dockerfile)) and (entry := folders.get(steps[:-1], {}).get(
                    steps[-1] + ".dockerignore")) is not None and entry[0] != TREE_MODE:
                own[dockerfile] = entry
        found = {path: oid for path, (_, oid) in entries.items()}
        followed, refused = Links(reader, tree).ids(
            {p: entries.get(p) for p in sorted(wanted_paths.difference(plain))})
        missing = sorted(p for p in wanted_paths | plain
                         if p not in found and p not in followed and p not in refused)
        if missing and not missing_ok:
            raise ReleaseError(
                f"not in git: {', '.join(missing)}",
                "commit these paths or remove them from release.yaml; ignored files cannot "
                "be part of a build key",
            )
        if refused and not missing_ok:
            raise refused[min(refused)]
        ids = {p: found[p] for p in wanted_paths if p in found and p not in refused}
        ids.update(followed)
        ids.update(_filtered(reader, entries, [(s, c, d) for s, (c, _, d) in parts.items()
                                               if c in found], own))
    return ids


ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Since:
    """What changed since a commit: its tree, and the paths that differ from HEAD."""

    tree: str
    paths: list[str]


def since(root: Path, ref: str) -> Since | str:
    """The tree of ``ref`` and the paths changed since, or why they cannot be known."""
    if set(ref) == {"0"}:
        return "the 'before' commit is the zero SHA (a new branch)"
    probe = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet",
                            f"{ref}^{{tree}}"],
                           capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    if probe.returncode != 0:
        return (f"commit {ref[:12]} is not in this clone (a force push, or a shallow "
                "clone: fetch-depth 1)")
    out = _git(root, "diff", "--name-only", "--no-renames", "-z", ref, "HEAD")
    return Since(probe.stdout.strip(), [path for path in out.split("\0") if path])
