"""Git, through the git command: the tree a build sees, the ids of paths, what changed since
a commit. Build ids are computed in ``git_contexts``, objects read in ``git_objects``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from release.adapters.git_contexts import CONTEXT_SEP, build_ids
from release.adapters.git_links import LinkError
from release.adapters.git_objects import GIT_TIMEOUT as _TIMEOUT
from release.adapters.git_objects import existing
from release.errors import ReleaseError

# build_ids and CONTEXT_SEP live in git_contexts; the commands reach them here.
__all__ = ["CONTEXT_SEP", "ZERO_SHA", "LinkError", "PendingSnapshot", "Since", "Snapshot",
           "build_ids", "object_ids", "since", "snapshot", "snapshot_in_background"]


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
    ids = existing(root, tree, wanted)
    missing = [p for p in wanted if p not in ids]
    if missing and not missing_ok:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot be "
            "part of a build key",
        )
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
