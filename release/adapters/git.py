"""Git, through the git command: tree and blob ids of paths, and the commit at HEAD."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from release.errors import ReleaseError

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
    commit = _git(root, "rev-parse", "HEAD").strip()
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    if not status.strip():
        return Snapshot(_git(root, "rev-parse", "HEAD^{tree}").strip(), commit, dirty=False)
    # Hash the work tree through a throw-away copy of the index: the real index is untouched,
    # and the copied stat cache means only changed files are read.
    git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir").strip())
    with tempfile.TemporaryDirectory(prefix="release-index-") as tmp:
        index = Path(tmp) / "index"
        if (git_dir / "index").exists():
            shutil.copyfile(git_dir / "index", index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        _git(root, "add", "--all", "--", ".", env=env)
        tree = _git(root, "write-tree", env=env).strip()
    return Snapshot(tree, commit, dirty=True)


def object_ids(root: Path, tree: str, paths: Iterable[str]) -> dict[str, str]:
    """The git object id of each path inside ``tree``, in one git process."""
    wanted = sorted(set(paths))
    lines = "".join(f"{tree}:{'' if p == '.' else p}\n" for p in wanted)
    out = _git(root, "cat-file", "--batch-check=%(objectname)", stdin=lines).splitlines()
    ids = {}
    missing = []
    for path, line in zip(wanted, out, strict=True):
        if line.endswith(" missing"):
            missing.append(path)
        else:
            ids[path] = line.strip()
    if missing:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot be "
            "part of a build key",
        )
    return ids


def _dockerignore_patterns(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_ids(root: Path, tree: str, contexts: Iterable[str]) -> dict[str, str]:
    """An id per build context, for the files Docker would send: ``.dockerignore`` applied.

    A context without a ``.dockerignore`` is just its git tree id. With one, the id is a
    hash of the listing that survives the ignore rules, so files the image never sees
    (a task definition, model files published to S3) do not change the build key.
    """
    from docker.utils.build import PatternMatcher  # the SDK's own matcher: same rules as the build

    wanted = sorted(set(contexts))
    ignores = {ctx: ("" if ctx == "." else ctx + "/") + ".dockerignore" for ctx in wanted}
    found = _existing(root, tree, [*wanted, *ignores.values()])
    out = {}
    for ctx in wanted:
        if ctx not in found:
            continue
        ignore = ignores[ctx]
        if ignore not in found:
            out[ctx] = found[ctx]
            continue
        matcher = PatternMatcher(_dockerignore_patterns(
            _git(root, "cat-file", "blob", found[ignore])))
        listing = _git(root, "ls-tree", "-r", "-z", found[ctx])
        digest = hashlib.sha256()
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            if path == ".dockerignore" or not matcher.matches(path):
                digest.update(f"{meta}\t{path}\n".encode())
        out[ctx] = "ctx-" + digest.hexdigest()[:40]
    return out


def _existing(root: Path, tree: str, paths: list[str]) -> dict[str, str]:
    lines = "".join(f"{tree}:{'' if p == '.' else p}\n" for p in paths)
    out = _git(root, "cat-file", "--batch-check=%(objectname)", stdin=lines).splitlines()
    return {p: line.strip() for p, line in zip(paths, out, strict=True)
            if not line.endswith(" missing")}


def build_ids(root: Path, tree: str, paths: Iterable[str], contexts: Iterable[str]
              ) -> dict[str, str]:
    """Object ids for build keys: every path, with contexts filtered by ``.dockerignore``."""
    ids = object_ids(root, tree, paths)
    ids.update(context_ids(root, tree, contexts))
    return ids
