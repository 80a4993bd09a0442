"""release.adapters.git against a real throw-away repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from release.adapters import git
from release.errors import ReleaseError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def sh(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", "-C", str(root), *args],
        capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "services" / "web").mkdir(parents=True)
    (root / "services" / "web" / "Dockerfile").write_text("FROM busybox\n")
    (root / "services" / "web" / "app.sh").write_text("echo hi\n")
    (root / "libs").mkdir()
    (root / "libs" / "common.txt").write_text("shared\n")
    (root / ".gitignore").write_text("*.log\n")
    sh(root, "init", "-q", "-b", "main")
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "init")
    return root


def test_clean_tree_is_head(repo: Path) -> None:
    snap = git.snapshot(repo)
    assert snap.dirty is False
    assert snap.commit == sh(repo, "rev-parse", "HEAD")
    assert snap.tree == sh(repo, "rev-parse", "HEAD^{tree}")


def test_ignored_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "services" / "web" / "debug.log").write_text("noise\n")
    assert git.snapshot(repo).dirty is False


@pytest.mark.parametrize(
    "change",
    ["modify", "untracked", "delete"],
)
def test_dirty_tree_is_the_work_tree(repo: Path, change: str) -> None:
    head_tree = sh(repo, "rev-parse", "HEAD^{tree}")
    target = repo / "services" / "web" / "app.sh"
    if change == "modify":
        target.write_text("echo changed\n")
    elif change == "untracked":
        (repo / "services" / "web" / "new.txt").write_text("new\n")
    else:
        target.unlink()
    snap = git.snapshot(repo)
    assert snap.dirty is True
    assert snap.tree != head_tree
    assert snap.commit == sh(repo, "rev-parse", "HEAD")
    # The real index is untouched: an untracked file is still untracked.
    status = sh(repo, "status", "--porcelain")
    if change == "untracked":
        assert "?? services/web/new.txt" in status
    # The snapshot is exactly the tree a commit of everything would have.
    sh(repo, "add", "-A")
    sh(repo, "commit", "-q", "-m", "change")
    assert snap.tree == sh(repo, "rev-parse", "HEAD^{tree}")


def test_object_ids_of_dir_file_and_root(repo: Path) -> None:
    tree = git.snapshot(repo).tree
    ids = git.object_ids(repo, tree, ["services/web", "services/web/Dockerfile", ".",
                                      "services/web"])
    assert ids == {
        "services/web": sh(repo, "rev-parse", "HEAD:services/web"),
        "services/web/Dockerfile": sh(repo, "rev-parse", "HEAD:services/web/Dockerfile"),
        ".": tree,
    }
    assert sh(repo, "cat-file", "-t", ids["services/web"]) == "tree"
    assert sh(repo, "cat-file", "-t", ids["services/web/Dockerfile"]) == "blob"


def test_a_change_inside_a_directory_changes_only_its_ids(repo: Path) -> None:
    paths = ["services/web", "libs"]
    before = git.object_ids(repo, git.snapshot(repo).tree, paths)
    (repo / "services" / "web" / "app.sh").write_text("echo changed\n")
    after = git.object_ids(repo, git.snapshot(repo).tree, paths)
    assert after["services/web"] != before["services/web"]
    assert after["libs"] == before["libs"]


def test_missing_paths_are_named(repo: Path) -> None:
    tree = git.snapshot(repo).tree
    with pytest.raises(ReleaseError) as caught:
        git.object_ids(repo, tree, ["services/web", "nope", "services/web/ghost"])
    assert "nope" in caught.value.message
    assert "services/web/ghost" in caught.value.message
    assert caught.value.hint


def test_outside_a_repository_is_a_release_error(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        git.snapshot(tmp_path)
    assert caught.value.hint
