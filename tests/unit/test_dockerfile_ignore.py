"""Build keys use the ignore file BuildKit reads: ``<Dockerfile>.dockerignore`` next to the
Dockerfile when there is one (instead of the context's ``.dockerignore``), else the context's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from release.adapters import git
from release.config.model import Service
from release.errors import ReleaseError
from release.planning import buildkey

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def sh(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", "-C", str(root), *args],
        capture_output=True, text=True, check=True, timeout=60).stdout


def write(root: Path, files: dict[str, str]) -> str:
    """Write ``files``, commit them and return the new tree."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "--allow-empty", "-m", "change")
    return sh(root, "rev-parse", "HEAD^{tree}").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    write(root, {
        "services/web/Dockerfile": "FROM busybox\nCOPY . /app\n",
        # The context's own file drops the notes; the Dockerfile's drops the data instead.
        "services/web/.dockerignore": "notes.md\n",
        "services/web/Dockerfile.dockerignore": "data\n",
        "services/web/app.py": "print('hi')\n",
        "services/web/notes.md": "notes\n",
        "services/web/data/big.bin": "0\n",
        # One context, three Dockerfiles: two with ignore files of their own, one without.
        "services/shared/.dockerignore": "b.txt\n",
        "services/shared/a.Dockerfile": "FROM busybox\n",
        "services/shared/a.Dockerfile.dockerignore": "a.txt\n",
        "services/shared/b.Dockerfile": "FROM busybox\n",
        "services/shared/b.Dockerfile.dockerignore": "c.txt\n",
        "services/shared/c.Dockerfile": "FROM busybox\n",
        "services/shared/a.txt": "a\n",
        "services/shared/b.txt": "b\n",
        "services/shared/c.txt": "c\n",
        # A Dockerfile outside its context: its ignore file is next to it, not in the context.
        "docker/api.Dockerfile": "FROM busybox\n",
        "docker/api.Dockerfile.dockerignore": "tmp\n",
        "services/api/main.py": "main\n",
        "services/api/tmp/scratch": "1\n",
    })
    return root


def service(name: str, context: str, dockerfile: str) -> Service:
    return Service(name=name, context=context, dockerfile=dockerfile, repository=name,
                   platform="linux/amd64")


WEB = service("web", "services/web", "services/web/Dockerfile")
SHARED = {n: service(n, "services/shared", f"services/shared/{n}.Dockerfile") for n in "abc"}
API = service("api", "services/api", "docker/api.Dockerfile")


def keys(root: Path, tree: str, *services: Service) -> dict[str, str]:
    """Each service's build key, computed as ``release plan`` does: one ``build_ids`` call."""
    ids = git.build_ids(root, tree, [p for s in services for p in buildkey.paths_of(s)],
                        [buildkey.context_of(s) for s in services])
    return {s.name: buildkey.build_key(buildkey.inputs_for(s, ids)) for s in services}


def test_context_of_is_what_build_ids_splits() -> None:
    assert buildkey.context_of(WEB).partition(git.CONTEXT_SEP) == (
        "services/web", git.CONTEXT_SEP, "services/web/Dockerfile")


def test_a_file_only_the_context_dockerignore_drops_changes_the_key(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    before = keys(repo, tree, WEB)["web"]
    # BuildKit sends notes.md: Dockerfile.dockerignore, which it reads instead, keeps it.
    assert keys(repo, write(repo, {"services/web/notes.md": "changed\n"}), WEB)["web"] != before


def test_a_file_the_dockerfile_ignore_file_drops_keeps_the_key(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    before = keys(repo, tree, WEB)["web"]
    after = write(repo, {"services/web/data/big.bin": "1\n", "services/web/data/new": "2\n"})
    assert keys(repo, after, WEB)["web"] == before
    # The context's .dockerignore is only a file in the context now: it is sent, so it counts.
    changed = write(repo, {"services/web/.dockerignore": "notes.md\nother\n"})
    assert keys(repo, changed, WEB)["web"] != before


def test_the_dockerfile_ignore_file_is_part_of_the_key(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    before = keys(repo, tree, WEB)["web"]
    # Even a change that drops nothing more: the file's content is an input.
    commented = write(repo, {"services/web/Dockerfile.dockerignore": "# same rules\ndata\n"})
    assert keys(repo, commented, WEB)["web"] != before


def test_services_sharing_a_context_get_keys_by_their_ignore_file(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    ids = git.build_ids(repo, tree, [], [buildkey.context_of(s) for s in SHARED.values()]
                        + ["services/shared"])
    a, b, c = (ids[buildkey.context_of(SHARED[n])] for n in "abc")
    assert len({a, b, c}) == 3
    # Without an ignore file of its own, a Dockerfile keeps the id the context always had.
    assert c == ids["services/shared"]
    before = keys(repo, tree, *SHARED.values())
    assert len(set(before.values())) == 3
    # a.txt is dropped for a only, b.txt for c only (the context's file), c.txt for b only.
    after = keys(repo, write(repo, {"services/shared/a.txt": "A\n"}), *SHARED.values())
    assert [after[n] == before[n] for n in "abc"] == [True, False, False]
    again = keys(repo, write(repo, {"services/shared/b.txt": "B\n"}), *SHARED.values())
    assert [again[n] == after[n] for n in "abc"] == [False, False, True]


def test_a_dockerfile_outside_its_context(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    before = keys(repo, tree, API)["api"]
    assert keys(repo, write(repo, {"services/api/tmp/scratch": "2\n"}), API)["api"] == before
    assert keys(repo, write(repo, {"services/api/main.py": "2\n"}), API)["api"] != before


def test_without_a_dockerfile_ignore_file_keys_are_what_they_were(repo: Path) -> None:
    sh(repo, "rm", "-q", "services/web/Dockerfile.dockerignore")
    sh(repo, "commit", "-q", "-m", "no own ignore file")
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    paths = buildkey.paths_of(WEB)
    old = git.build_ids(repo, tree, paths, [WEB.context])  # the bare context, as before
    new = git.build_ids(repo, tree, paths, [buildkey.context_of(WEB)])
    assert new[buildkey.context_of(WEB)] == old[WEB.context]
    assert (buildkey.build_key(buildkey.inputs_for(WEB, new))
            == buildkey.build_key(buildkey.inputs_for(WEB, old)))
    # And the notes, which the context's .dockerignore drops again, no longer count.
    before = keys(repo, tree, WEB)["web"]
    assert keys(repo, write(repo, {"services/web/notes.md": "x\n"}), WEB)["web"] == before


def test_a_directory_named_like_the_ignore_file_is_no_ignore_file(repo: Path) -> None:
    sh(repo, "rm", "-q", "services/shared/a.Dockerfile.dockerignore")
    tree = write(repo, {"services/shared/a.Dockerfile.dockerignore/x": "a.txt\n"})
    ids = git.build_ids(repo, tree, [], [buildkey.context_of(SHARED["a"]), "services/shared"])
    assert ids[buildkey.context_of(SHARED["a"])] == ids["services/shared"]


def test_a_missing_context_is_left_out_with_missing_ok(repo: Path) -> None:
    tree = sh(repo, "rev-parse", "HEAD^{tree}").strip()
    ghost = service("ghost", "services/ghost", "services/web/Dockerfile")
    ids = git.build_ids(repo, tree, buildkey.paths_of(ghost), [buildkey.context_of(ghost)],
                        missing_ok=True)
    assert buildkey.context_of(ghost) not in ids
    with pytest.raises(ReleaseError, match="not in git: services/ghost"):
        git.build_ids(repo, tree, buildkey.paths_of(ghost), [buildkey.context_of(ghost)])


def test_a_context_dockerignore_the_dockerfile_file_drops_is_not_sent(repo: Path) -> None:
    # BuildKit sends only what the Dockerfile's own file keeps: not even .dockerignore.
    tree = write(repo, {"services/web/Dockerfile.dockerignore": "data\n.dockerignore\n"})
    before = keys(repo, tree, WEB)["web"]
    changed = write(repo, {"services/web/.dockerignore": "anything\n"})
    assert keys(repo, changed, WEB)["web"] == before
