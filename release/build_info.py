"""Which commit of the release tool this is, for `release --version`: cheap, no subprocess.

Read from ``release/_commit.txt`` when a build wrote it (the publish workflow and the setup
action write it before building); else, in a git checkout of the tool's own source, from
``.git/HEAD`` and the ref it names, read directly next to the package (worktrees and
packed refs included). ``None`` when neither says.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
COMMIT_FILE = PACKAGE / "_commit.txt"
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_MAX = 4096  # bytes read from any one file: these are a line each


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return f.read(_MAX).decode("utf-8", "replace").strip()
    except OSError:
        return None


def _commit_or_none(text: str | None) -> str | None:
    return text if text is not None and _COMMIT.fullmatch(text) else None


def _git_dir(root: Path) -> Path | None:
    """The repository's git directory: ``root/.git``, or where a ``.git`` file points."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    text = _read(dot_git) if dot_git.is_file() else None
    if text is None or not text.startswith("gitdir:"):
        return None
    target = Path(text.removeprefix("gitdir:").strip())
    return target if target.is_absolute() else (root / target)


def _resolve(git_dir: Path, ref: str) -> str | None:
    """The commit a ref names: its loose file, else its line in packed-refs (looked up in
    the common directory of a worktree too)."""
    if not ref.startswith("refs/") or ".." in ref.split("/"):
        return None
    common = _read(git_dir / "commondir")
    dirs = [git_dir] + ([git_dir / common] if common else [])
    for folder in dirs:
        found = _commit_or_none(_read(folder / ref))
        if found:
            return found
    for folder in dirs:
        packed = _read_all(folder / "packed-refs")
        for line in packed.splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _COMMIT.fullmatch(sha):
                return sha
    return None


def _read_all(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def git_commit(root: Path) -> str | None:
    """The commit checked out in the git work tree at ``root``, from its files alone."""
    git_dir = _git_dir(root)
    head = _read(git_dir / "HEAD") if git_dir is not None else None
    if git_dir is None or head is None:
        return None
    if head.startswith("ref:"):
        return _resolve(git_dir, head.removeprefix("ref:").strip())
    return _commit_or_none(head)


def commit() -> str | None:
    """This release tool's commit: the build's record, else its git checkout's HEAD."""
    return _commit_or_none(_read(COMMIT_FILE)) or git_commit(PACKAGE.parent)


def describe(version: str) -> str:
    """``release 0.2.0 (0123456789ab)``, or ``(unknown commit)``."""
    found = commit()
    return f"release {version} ({found[:12] if found else 'unknown commit'})"
