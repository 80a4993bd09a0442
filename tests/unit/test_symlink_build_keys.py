"""Build and config keys cover what symbolic links point to (issue 13, paths stay inside).

A link is a blob holding its text, so git's id of a tree with a link changes only when the
text does. Whoever reads a watched path, a Dockerfile, a template or an S3 source follows
the link, so those ids must change when the target's content does; a link that leaves the
repository, points to nothing or loops is refused. Build contexts keep the link text: Docker
sends a link in a context as a link, so the image holds the text, never the target.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from release.adapters import git
from release.config.model import Service
from release.errors import EXIT_CONFIG, ReleaseError
from release.planning import buildkey

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

DECOY = "DECOY-CONTENT-FROM-OUTSIDE-THE-REPOSITORY"


def sh(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", "-C", str(root), *args],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, target in (links or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(target)


def commit(root: Path) -> str:
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "--allow-empty", "-m", "change")
    return sh(root, "rev-parse", "HEAD^{tree}")


BASE = {
    "services/web/Dockerfile": "FROM busybox\n",
    "services/web/app.py": "print('web')\n",
    "libs/real/code.py": "VERSION = 1\n",
    "libs/real/sub/deep.py": "DEEP = 1\n",
    "shared/weights.bin": "weights v1\n",
    "shared/config.json": "{}\n",
    "models/base.txt": "base\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, BASE)
    sh(root.parent, "init", "-q", "-b", "main", str(root))
    commit(root)
    return root


def ids(root: Path, paths: list[str], contexts: tuple[str, ...] = (), *,
        missing_ok: bool = False) -> dict[str, str]:
    tree = git.snapshot(root).tree
    return git.build_ids(root, tree, paths, contexts, missing_ok=missing_ok)


def git_id(root: Path, path: str) -> str:
    return sh(root, "rev-parse", f"HEAD:{path}")


# --- a change to a link's target changes the id of whatever holds the link ----------------

@pytest.mark.parametrize(("links", "watched", "target"), [
    # a link inside a watched directory, to a file elsewhere in the repository
    ({"libs/app/weights.bin": "../../shared/weights.bin"}, "libs/app", "shared/weights.bin"),
    # ... to a directory elsewhere
    ({"libs/app/shared": "../../shared"}, "libs/app", "shared/weights.bin"),
    # ... deep below the watched path
    ({"libs/app/a/b/c/w.bin": "../../../../../shared/weights.bin"}, "libs/app",
     "shared/weights.bin"),
    # the watched path is itself a link, to a file and to a directory
    ({"libs/app": "../shared/weights.bin"}, "libs/app", "shared/weights.bin"),
    ({"libs/app": "../shared"}, "libs/app", "shared/weights.bin"),
    # a link to a link, and a link through a linked directory
    ({"libs/app/x": "y", "libs/app/y": "../../shared/weights.bin"}, "libs/app",
     "shared/weights.bin"),
    ({"alias": "shared", "libs/app/w": "../../alias/weights.bin"}, "libs/app",
     "shared/weights.bin"),
    # a link under a linked directory: resolved from where it really is
    ({"libs/app/lib": "../real", "libs/real/sub/w": "../../../shared/weights.bin"},
     "libs/app", "shared/weights.bin"),
    # a path that goes through a link (the configured path is below a linked directory)
    ({"libs/alias": "real"}, "libs/alias/sub", "libs/real/sub/deep.py"),
])
def test_a_change_to_a_link_target_changes_the_id(repo: Path, links: dict[str, str],
                                                  watched: str, target: str) -> None:
    write(repo, {}, links)
    commit(repo)
    before = ids(repo, [watched])[watched]
    write(repo, {target: (repo / target).read_text() + "changed\n"})
    commit(repo)
    after = ids(repo, [watched])[watched]
    assert before != after


def test_a_link_to_a_file_counts_as_the_file_itself(repo: Path) -> None:
    write(repo, {}, {"services/web/Dockerfile.link": "Dockerfile"})
    commit(repo)
    found = ids(repo, ["services/web/Dockerfile.link"])
    assert found["services/web/Dockerfile.link"] == git_id(repo, "services/web/Dockerfile")


def test_a_build_key_and_a_config_key_follow_the_link(repo: Path) -> None:
    write(repo, {"libs/app/own.py": "OWN = 1\n"},
          {"libs/app/code.py": "../real/code.py", "models/w.bin": "../shared/weights.bin"})
    commit(repo)
    service = Service(name="web", context="services/web", dockerfile="services/web/Dockerfile",
                      repository="web", platform="linux/amd64", watch=("libs/app",))
    paths = [*buildkey.paths_of(service), "models"]

    def keys() -> tuple[str, str]:
        found = ids(repo, paths, (service.context,))
        return (buildkey.build_key(buildkey.inputs_for(service, found)),
                buildkey.config_key({"x": 1}, {"models": found["models"]}))

    first = keys()
    write(repo, {"libs/real/code.py": "VERSION = 2\n"})
    commit(repo)
    second = keys()
    assert second[0] != first[0]
    assert second[1] == first[1]
    write(repo, {"shared/weights.bin": "weights v2\n"})
    commit(repo)
    third = keys()
    assert third[0] == second[0]
    assert third[1] != second[1]


def test_a_dirty_work_tree_is_keyed_through_its_links_too(repo: Path) -> None:
    write(repo, {}, {"models/w.bin": "../shared/weights.bin"})
    commit(repo)
    before = ids(repo, ["models"])["models"]
    write(repo, {"shared/weights.bin": "uncommitted\n"})
    assert ids(repo, ["models"])["models"] != before


# --- without links nothing changes: every id is git's own --------------------------------

def test_paths_without_links_keep_their_git_ids(repo: Path) -> None:
    paths = ["libs/real", "libs/real/code.py", "shared", "services/web/Dockerfile", "."]
    found = ids(repo, paths, ("services/web",))
    assert found == {**{p: git_id(repo, "" if p == "." else p) for p in paths},
                     "services/web": git_id(repo, "services/web")}


def test_a_link_that_stays_inside_its_directory_still_changes_the_id(repo: Path) -> None:
    write(repo, {}, {"libs/real/alias.py": "code.py"})
    commit(repo)
    found = ids(repo, ["libs/real"])["libs/real"]
    assert found.startswith("lnk-")
    write(repo, {"libs/real/code.py": "VERSION = 3\n"})
    commit(repo)
    assert ids(repo, ["libs/real"])["libs/real"] != found


# --- links that lead nowhere a key can follow are refused --------------------------------

@pytest.mark.parametrize(("links", "path", "words"), [
    ({"libs/app/shadow": "/etc/shadow"}, "libs/app", "is absolute"),
    ({"libs/app/up": "../../../outside/secret.txt"}, "libs/app",
     "leads outside the repository"),
    ({"libs/app": "../.."}, "libs/app", "leads outside the repository"),
    ({"models/env": "/proc/self/environ"}, "models", "is absolute"),
    ({"models/zero": "/dev/zero"}, "models", "is absolute"),
    ({"libs/app/gone": "../../nothing/here"}, "libs/app", "points to nothing in git"),
    ({"libs/app/gone": "../real/code.py/x"}, "libs/app", "points to nothing in git"),
    ({"services/web/Dockerfile.link": "Dockerfile.missing"}, "services/web/Dockerfile.link",
     "points to nothing in git"),
    ({"libs/app/a": "b", "libs/app/b": "a"}, "libs/app", "symbolic link loop"),
    ({"libs/app/self": "."}, "libs/app", "symbolic link loop"),
    ({"libs/app/up": ".."}, "libs/app", "symbolic link loop"),
    ({"libs/app/x/y": "../../other", "libs/other/z": "../app"}, "libs/app",
     "symbolic link loop"),
])
def test_links_leading_nowhere_are_refused(repo: Path, links: dict[str, str], path: str,
                                           words: str) -> None:
    write(repo, {}, links)
    commit(repo)
    with pytest.raises(ReleaseError) as caught:
        ids(repo, [path])
    assert words in caught.value.message
    assert caught.value.exit_code == EXIT_CONFIG
    assert caught.value.hint
    link = next(iter(links))
    assert f"'{link}'" in caught.value.message or "loop" in words
    assert DECOY not in caught.value.message
    # --since keys the old tree with missing_ok: such a path is left out, not refused
    assert path not in ids(repo, [path, "shared"], missing_ok=True)


def test_an_absolute_link_into_the_checkout_is_refused_too(repo: Path) -> None:
    # It resolves inside the repository here, and to whatever is at that path elsewhere.
    write(repo, {}, {"models/abs.bin": str(repo / "shared" / "weights.bin")})
    commit(repo)
    with pytest.raises(ReleaseError, match="is absolute") as caught:
        ids(repo, ["models"])
    assert caught.value.hint
    assert "relative link" in caught.value.hint


def test_a_link_longer_than_any_path_is_refused_unread(repo: Path) -> None:
    # Only git can hold it (a checkout cannot): pushed with plumbing, keyed by `plan --since`.
    done = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                          input="a/" * 500_000, capture_output=True, text=True, check=True)
    sh(repo, "update-index", "--add", "--cacheinfo", f"120000,{done.stdout.strip()},models/huge")
    sh(repo, "commit", "-q", "-m", "huge link")
    tree = sh(repo, "rev-parse", "HEAD^{tree}")
    with pytest.raises(ReleaseError, match="1000000 bytes long, longer than any path") as caught:
        git.build_ids(repo, tree, ["models"], [])
    assert caught.value.exit_code == EXIT_CONFIG


def test_a_missing_path_is_still_named_as_not_in_git(repo: Path) -> None:
    with pytest.raises(ReleaseError, match="not in git: libs/ghost"):
        ids(repo, ["libs/ghost"])


def test_a_very_deep_tree_is_walked_without_recursion(repo: Path) -> None:
    # 300 levels under a recursion limit of 250 (pytest's own frames included): a walk that
    # recursed once per level would fail. (Deeper trees on disk would break pytest's own
    # clean-up of old temporary directories, which recurses.)
    levels = 300
    deep = "libs/app/" + "/".join(["d"] * levels)
    write(repo, {f"{deep}/leaf.txt": "leaf\n"},
          {f"{deep}/w": "/".join([".."] * (levels + 2)) + "/shared/weights.bin"})
    tree = commit(repo)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        before = git.build_ids(repo, tree, ["libs/app"], [])["libs/app"]
    finally:
        sys.setrecursionlimit(limit)
    write(repo, {"shared/weights.bin": "weights v9\n"})
    tree = commit(repo)
    assert git.build_ids(repo, tree, ["libs/app"], [])["libs/app"] != before


# --- build contexts: the link text, never the target ---------------------------------------

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and args and isinstance(
            args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextmanager
def recording() -> Iterator[list[str]]:
    global _opened  # noqa: PLW0603 - the audit hook cannot be removed: it reads this
    _opened = []
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("hung on the FIFO"))
    signal.alarm(20)
    try:
        yield _opened
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        _opened = None


def test_a_context_link_out_of_the_repository_is_keyed_by_its_text(repo: Path,
                                                                   tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(DECOY + "\n")
    write(repo, {}, {"services/web/secret": str(outside / "secret.txt"),
                     "services/web/up": "../../../outside/secret.txt",
                     "services/web/dir": str(outside)})
    tree = commit(repo)
    service = Service(name="web", context="services/web", dockerfile="services/web/Dockerfile",
                      repository="web", platform="linux/amd64")
    with recording() as opened:
        found = git.build_ids(repo, tree, buildkey.paths_of(service), [service.context])
    key = buildkey.build_key(buildkey.inputs_for(service, found))
    assert found[service.context] == git_id(repo, "services/web")  # the tree: link texts
    assert not [p for p in opened if str(outside) in os.path.realpath(p)]
    # The outside file changes, then becomes a FIFO (a read would block): same key, no read.
    (outside / "secret.txt").write_text(DECOY + " changed\n")
    (outside / "secret.txt").unlink()
    os.mkfifo(outside / "secret.txt")
    with recording() as opened:
        snap = git.snapshot(repo)  # a clean tree: git reads no link target either
        again = git.build_ids(repo, snap.tree, buildkey.paths_of(service), [service.context])
    assert buildkey.build_key(buildkey.inputs_for(service, again)) == key
    assert not [p for p in opened if str(outside) in os.path.realpath(p)]
    # A dirty work tree is hashed by git, which stores a link as its text (it never opens
    # the target, FIFO or not): the id changes only because the new file does.
    write(repo, {"services/web/new.py": "x = 1\n"})
    with recording():
        dirty = git.snapshot(repo)
        assert dirty.dirty
        changed = git.build_ids(repo, dirty.tree, buildkey.paths_of(service), [service.context])
    assert changed[service.context] != found[service.context]
    assert DECOY not in "".join(changed.values())


def test_a_context_with_a_dockerignore_keeps_the_link_text(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(DECOY + "\n")
    write(repo, {"services/web/.dockerignore": "*.md\n"},
          {"services/web/secret": str(outside), "services/web/w": "../../shared/weights.bin"})
    commit(repo)
    before = ids(repo, ["services/web"], ("services/web",))["services/web"]
    outside.write_text("other\n")
    write(repo, {"shared/weights.bin": "weights v3\n"})
    commit(repo)
    # Docker sends both links as links: neither target's content is in the image.
    assert ids(repo, ["services/web"], ("services/web",))["services/web"] == before
