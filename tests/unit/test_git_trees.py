"""Object ids read tree by tree agree with git's own lookup; the snapshot runs beside us."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from release.adapters import git, git_objects
from release.errors import ReleaseError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def sh(root: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", "-C", str(root), *args],
        capture_output=True, text=True, check=True, input=stdin, timeout=60,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "services/web/Dockerfile": "FROM busybox\n",
        "services/web/src/app.py": "print('hi')\n",
        "services/web/.dockerignore": "*.md\n",
        "services/api two/Dockerfile": "FROM busybox\n",
        "services/ünï/Dockerfile": "FROM busybox\n",
        "libs/common/a.txt": "shared\n",
        "README.md": "readme\n",
        **{f"many/d{i:03}/f.txt": f"{i}\n" for i in range(300)},  # more trees than a chunk
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "services" / "web" / "link").symlink_to("src")
    sh(root.parent, "init", "-q", "-b", "main", str(root))
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "init")
    return root


def reference(root: Path, tree: str, paths: list[str]) -> dict[str, str]:
    """git's own answer: ``cat-file --batch-check TREE:PATH`` for each path."""
    lines = "".join(f"{tree}:{'' if p == '.' else p}\n" for p in paths)
    out = sh(root, "cat-file", "--batch-check=%(objectname)", stdin=lines).splitlines()
    return {p: line for p, line in zip(paths, out, strict=True) if not line.endswith("missing")}


def test_ids_match_git_for_files_trees_links_and_missing_paths(repo: Path) -> None:
    tree = git.snapshot(repo).tree
    paths = ["services/web", "services/web/Dockerfile", "services/web/.dockerignore",
             "services/api two/Dockerfile", "services/ünï", "services/ünï/Dockerfile",
             "libs/common", "README.md", ".", "services/web/link", "services/web/link/app.py",
             "services/web/src/app.py", "nope", "services/nope/Dockerfile",
             "README.md/inside", *[f"many/d{i:03}/f.txt" for i in range(0, 300, 7)],
             *[f"many/d{i:03}" for i in range(300)]]
    assert git_objects.existing(repo, tree, paths) == reference(repo, tree, paths)


def test_dot_and_doubled_slashes_name_the_same_path(repo: Path) -> None:
    tree = git.snapshot(repo).tree
    ids = git_objects.existing(repo, tree, ["./services/web", "services//web", "services/web/"])
    expected = reference(repo, tree, ["services/web"])["services/web"]
    assert set(ids.values()) == {expected}


def test_object_ids_still_names_what_is_missing(repo: Path) -> None:
    tree = git.snapshot(repo).tree
    with pytest.raises(ReleaseError) as caught:
        git.object_ids(repo, tree, ["services/web", "services/web/ghost", "ghost"])
    assert "services/web/ghost" in caught.value.message
    assert "ghost" in caught.value.message


def test_a_tree_that_is_not_in_the_repository_is_a_release_error(repo: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        git_objects.existing(repo, "0" * 40, ["services/web"])
    assert caught.value.hint


def test_head_is_known_before_the_walk_ends(repo: Path) -> None:
    with git.snapshot_in_background(repo) as pending:
        head = pending.head()
        assert head.tree == sh(repo, "rev-parse", "HEAD^{tree}").strip()
        assert pending.result() == head


def test_a_dirty_tree_differs_from_head(repo: Path) -> None:
    (repo / "services" / "web" / "src" / "new.py").write_text("new\n")
    with git.snapshot_in_background(repo) as pending:
        head = pending.head()
        snap = pending.result()
    assert snap.dirty
    assert snap.tree != head.tree
    assert snap.commit == head.commit


def test_the_walk_is_waited_for_when_the_caller_fails(repo: Path) -> None:
    seen: list[git.PendingSnapshot] = []

    def plan_that_fails() -> None:
        with git.snapshot_in_background(repo) as pending:
            seen.append(pending)
            raise RuntimeError("config broken")

    with pytest.raises(RuntimeError):
        plan_that_fails()
    for proc in (seen[0]._head, seen[0]._status):
        assert proc.returncode == 0  # ran to its end (never killed), and reaped
    assert not (repo / ".git" / "index.lock").exists()
    assert sh(repo, "status", "--porcelain") == ""


def test_outside_a_repository_the_error_comes_when_asked(tmp_path: Path) -> None:
    with git.snapshot_in_background(tmp_path) as pending, \
            pytest.raises(ReleaseError) as caught:
        pending.result()
    assert "rev-parse" in caught.value.message
    assert caught.value.hint


def old_context_id(root: Path, tree: str, context: str) -> str:
    """What a context's id was when it took `git ls-tree -r` and the Docker SDK's matcher."""
    import hashlib

    from docker.utils.build import PatternMatcher

    prefix = "" if context == "." else f"{context}/"
    text = sh(root, "cat-file", "blob", f"{tree}:{prefix}.dockerignore")
    lines = (line.strip() for line in text.splitlines())
    matcher = PatternMatcher([line for line in lines if line and not line.startswith("#")])
    digest = hashlib.sha256()
    where = "" if context == "." else context
    listing = sh(root, "ls-tree", "-r", "-z", sh(root, "rev-parse", f"{tree}:{where}").strip())
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        if path == ".dockerignore" or not matcher.matches(path):
            digest.update(f"{meta}\t{path}\n".encode())
    return "ctx-" + digest.hexdigest()[:40]


def test_dockerignore_contexts_keep_the_ids_they_had(repo: Path) -> None:
    web = repo / "services" / "web"
    (web / ".dockerignore").write_text("*.md\ndocs\n!docs/keep.md\n# comment\nsrc/*.log\n")
    (web / "run.sh").write_text("#!/bin/sh\n")
    (web / "run.sh").chmod(0o755)
    for rel in ("README.md", "docs/a.md", "docs/keep.md", "src/x.log", "src/deep/y.py"):
        (web / rel).parent.mkdir(parents=True, exist_ok=True)
        (web / rel).write_text(rel)
    for i in range(300):  # more subtrees than one request chunk
        (web / "many" / f"d{i:03}").mkdir(parents=True)
        (web / "many" / f"d{i:03}" / "f.txt").write_text(str(i))
    (repo / ".dockerignore").write_text("many\n")
    sh(repo, "add", "-A")
    commit = sh(repo, "rev-parse", "HEAD").strip()
    sh(repo, "update-index", "--add", "--cacheinfo", f"160000,{commit},services/web/sub")
    sh(repo, "commit", "-q", "-m", "ignore files")
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    contexts = ["services/web", ".", "libs/common"]
    ids = git.build_ids(repo, tree, [], contexts)
    assert ids["services/web"] == old_context_id(repo, tree, "services/web")
    assert ids["."] == old_context_id(repo, tree, ".")
    assert ids["libs/common"] == sh(repo, "rev-parse", f"{tree}:libs/common").strip()
