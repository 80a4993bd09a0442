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


def object_ids(root: Path, tree: str, paths: Iterable[str], *,
               missing_ok: bool = False) -> dict[str, str]:
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
    if missing and not missing_ok:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot be "
            "part of a build key",
        )
    return ids


def _dockerignore_patterns(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignore_file(context: str) -> str:
    return ("" if context == "." else context + "/") + ".dockerignore"


def _filtered(root: Path, found: dict[str, str], context: str) -> str:
    """A context's id as Docker would send it: its tree, minus what ``.dockerignore`` drops.

    A context without a ``.dockerignore`` is just its git tree id. With one, the id is a
    hash of the listing that survives the ignore rules, so files the image never sees
    (a task definition, model files published to S3) do not change the build key.
    """
    ignore = _ignore_file(context)
    if ignore not in found:
        return found[context]
    # The SDK's own matcher: the same rules as the build. Imported only when needed.
    from docker.utils.build import PatternMatcher

    matcher = PatternMatcher(_dockerignore_patterns(_git(root, "cat-file", "blob", found[ignore])))
    digest = hashlib.sha256()
    for entry in _git(root, "ls-tree", "-r", "-z", found[context]).split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        if path == ".dockerignore" or not matcher.matches(path):
            digest.update(f"{meta}\t{path}\n".encode())
    return "ctx-" + digest.hexdigest()[:40]


def _existing(root: Path, tree: str, paths: list[str]) -> dict[str, str]:
    lines = "".join(f"{tree}:{'' if p == '.' else p}\n" for p in paths)
    out = _git(root, "cat-file", "--batch-check=%(objectname)", stdin=lines).splitlines()
    return {p: line.strip() for p, line in zip(paths, out, strict=True)
            if not line.endswith(" missing")}


def build_ids(root: Path, tree: str, paths: Iterable[str], contexts: Iterable[str], *,
              missing_ok: bool = False) -> dict[str, str]:
    """Object ids for build keys, from one git process: every path, with build contexts
    filtered by their ``.dockerignore``."""
    wanted_paths = set(paths)
    contexts = sorted(set(contexts))
    found = _existing(root, tree, sorted(wanted_paths | set(contexts)
                                         | {_ignore_file(c) for c in contexts}))
    missing = sorted(p for p in wanted_paths | set(contexts) if p not in found)
    if missing and not missing_ok:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot be "
            "part of a build key",
        )
    ids = {p: found[p] for p in wanted_paths if p in found}
    ids.update({c: _filtered(root, found, c) for c in contexts if c in found})
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
