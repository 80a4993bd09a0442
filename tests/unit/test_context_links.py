"""A build context may not hold a link out of the repository, unless .dockerignore drops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from release import repo_files
from release.commands.images import refuse_links_leaving
from release.errors import UsageError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "svc" / "app").mkdir(parents=True)
    (root / "svc" / "Dockerfile").write_text("FROM scratch\n")
    (root / "svc" / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return root


def test_a_link_inside_the_repository_is_fine(repo: Path) -> None:
    (repo / "svc" / "app" / "alias.py").symlink_to("main.py")
    (repo / "svc" / "shared").symlink_to("../svc/app")
    refuse_links_leaving(repo, "svc")
    assert repo_files.links_leaving(repo, "svc") == []


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../secret.txt", "/proc/self/environ"])
def test_a_link_out_of_the_repository_is_refused(repo: Path, target: str) -> None:
    (repo / "svc" / "app" / "leak").symlink_to(target)
    with pytest.raises(UsageError) as caught:
        refuse_links_leaving(repo, "svc")
    assert "svc/app/leak" in caught.value.message
    assert caught.value.hint is not None
    assert ".dockerignore" in caught.value.hint


def test_a_dockerignored_link_is_never_sent_so_it_may_stay(repo: Path) -> None:
    (repo / "svc" / ".venv").mkdir()
    (repo / "svc" / ".venv" / "python").symlink_to("/usr/bin/python3")
    (repo / "svc" / ".dockerignore").write_text(".venv\n")
    refuse_links_leaving(repo, "svc")
    (repo / "svc" / "other").symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match="svc/other"):
        refuse_links_leaving(repo, "svc")


def test_the_repository_root_as_context(repo: Path) -> None:
    (repo / "leak").symlink_to("/etc/passwd")
    with pytest.raises(UsageError, match="'leak' -> '/etc/passwd'"):
        refuse_links_leaving(repo, ".")


def test_a_directory_linked_twice_is_read_twice_not_called_a_loop(repo: Path) -> None:
    (repo / "svc" / "a").symlink_to("app")
    (repo / "svc" / "b").symlink_to("app")
    found = [rel for rel, _ in repo_files.files_under(repo, "svc")]
    assert found == ["Dockerfile", "a/main.py", "app/main.py", "b/main.py"]
    (repo / "svc" / "app" / "up").symlink_to("..")
    with pytest.raises(repo_files.PathRefused, match="a symbolic link loop"):
        list(repo_files.files_under(repo, "svc"))
