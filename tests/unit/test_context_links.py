"""A build context may not hold a link out of the repository, unless .dockerignore drops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from release import repo_files
from release.engine.images import refuse_links_leaving
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
    refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    assert repo_files.links_leaving(repo, "svc") == []


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../secret.txt", "/proc/self/environ"])
def test_a_link_out_of_the_repository_is_refused(repo: Path, target: str) -> None:
    (repo / "svc" / "app" / "leak").symlink_to(target)
    with pytest.raises(UsageError) as caught:
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    assert "svc/app/leak" in caught.value.message
    assert caught.value.hint is not None
    assert ".dockerignore" in caught.value.hint


def test_a_dockerignored_link_is_never_sent_so_it_may_stay(repo: Path) -> None:
    (repo / "svc" / ".venv").mkdir()
    (repo / "svc" / ".venv" / "python").symlink_to("/usr/bin/python3")
    (repo / "svc" / ".dockerignore").write_text(".venv\n")
    refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    (repo / "svc" / "other").symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match="svc/other"):
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")


def test_the_repository_root_as_context(repo: Path) -> None:
    (repo / "leak").symlink_to("/etc/passwd")
    with pytest.raises(UsageError, match="'leak' -> '/etc/passwd'"):
        refuse_links_leaving(repo, ".", "Dockerfile")


def test_a_directory_linked_twice_is_read_twice_not_called_a_loop(repo: Path) -> None:
    (repo / "svc" / "a").symlink_to("app")
    (repo / "svc" / "b").symlink_to("app")
    found = [rel for rel, _ in repo_files.files_under(repo, "svc")]
    assert found == ["Dockerfile", "a/main.py", "app/main.py", "b/main.py"]
    (repo / "svc" / "app" / "up").symlink_to("..")
    with pytest.raises(repo_files.PathRefused, match="a symbolic link loop"):
        list(repo_files.files_under(repo, "svc"))


def test_the_dockerfile_ignore_file_is_read_instead_of_the_context_one(repo: Path) -> None:
    # BuildKit reads svc/Dockerfile.dockerignore, not svc/.dockerignore, when it is there.
    (repo / "svc" / ".venv").mkdir()
    (repo / "svc" / ".venv" / "python").symlink_to("/usr/bin/python3")
    (repo / "svc" / ".dockerignore").write_text(".venv\n")
    (repo / "svc" / "Dockerfile.dockerignore").write_text("*.md\n")
    with pytest.raises(UsageError, match=r"svc/\.venv/python") as caught:
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    assert caught.value.hint is not None
    assert "svc/Dockerfile.dockerignore" in caught.value.hint
    (repo / "svc" / "Dockerfile.dockerignore").write_text(".venv\n")
    (repo / "svc" / ".dockerignore").write_text("")
    refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    # Another Dockerfile of the same context, without a file of its own: the context's.
    with pytest.raises(UsageError, match=r"svc/\.venv/python"):
        refuse_links_leaving(repo, "svc", "svc/other.Dockerfile")


def test_a_dockerfile_outside_the_context_brings_its_ignore_file(repo: Path) -> None:
    (repo / "docker").mkdir()
    (repo / "docker" / "svc.Dockerfile").write_text("FROM scratch\n")
    (repo / "docker" / "svc.Dockerfile.dockerignore").write_text("app/leak\n")
    (repo / "svc" / "app" / "leak").symlink_to("/etc/passwd")
    refuse_links_leaving(repo, "svc", "docker/svc.Dockerfile")
    with pytest.raises(UsageError, match="svc/app/leak"):
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")


def test_a_dockerfile_ignore_file_is_read_bounded(repo: Path) -> None:
    (repo / "svc" / "app" / "leak").symlink_to("/etc/passwd")
    (repo / "svc" / "Dockerfile.dockerignore").symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match=r"Dockerfile\.dockerignore' leads outside"):
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")
    (repo / "svc" / "Dockerfile.dockerignore").unlink()
    (repo / "svc" / "Dockerfile.dockerignore").write_bytes(b"#" * (2 << 20))
    with pytest.raises(UsageError, match=r"Dockerfile\.dockerignore' is larger than"):
        refuse_links_leaving(repo, "svc", "svc/Dockerfile")
