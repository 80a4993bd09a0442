"""The tool's own version: CHANGELOG.md has its section, pyproject.toml and __version__
agree, and `release --version` prints it with a commit (from the build's record, or read
from a git checkout's files), fast."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from release import __version__, build_info, cli

REPO = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def test_pyproject_and_the_package_name_one_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_the_changelog_has_a_section_for_this_version_and_an_unreleased_one() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[Unreleased\]$", text, re.MULTILINE)
    heading = re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text,
                        re.MULTILINE)
    assert heading, f"CHANGELOG.md has no '## [{__version__}] - YYYY-MM-DD' section"
    body = text[heading.end():].split("\n## [", 1)[0]
    assert re.search(r"^### (Added|Changed|Fixed|Removed|Security|Deprecated)$", body,
                     re.MULTILINE)
    assert f"[{__version__}]: https://" in text


def test_the_license_is_mit() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "the release authors" in text


def test_release_version_prints_the_version_and_the_commit_quickly() -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "release", "--version"], capture_output=True,
                          text=True, timeout=60, check=True, cwd=REPO)
    seconds = time.monotonic() - started
    head = build_info.commit()
    assert head is not None  # this is a git checkout of the tool
    assert done.stdout == f"release {__version__} ({head[:12]})\n"
    assert seconds < 5  # a process start; the bench holds the real 150 ms target


def test_version_imports_nothing_heavy() -> None:
    code = ("import sys; from release import cli; cli.main(['--version'], {}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('botocore', 'docker', 'azure', 'yaml', 'jsonschema', 'subprocess')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=REPO)
    assert done.stdout.splitlines()[-1] == "[]"


def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"], {}) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(rf"release {re.escape(__version__)} \(([0-9a-f]{{12}}|unknown commit)\)\n",
                        out)


def _repo(tmp_path: Path) -> Path:
    git = tmp_path / "tool" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    return git


def test_a_branch_head_is_read_from_its_loose_ref(tmp_path: Path) -> None:
    git = _repo(tmp_path)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    assert build_info.git_commit(tmp_path / "tool") == SHA


def test_a_packed_ref_and_a_detached_head(tmp_path: Path) -> None:
    git = _repo(tmp_path)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{OTHER} refs/heads/other\n"
                                     f"{SHA} refs/heads/main\n")
    assert build_info.git_commit(tmp_path / "tool") == SHA
    (git / "HEAD").write_text(OTHER + "\n")
    assert build_info.git_commit(tmp_path / "tool") == OTHER


def test_a_worktree_reads_its_head_and_the_common_refs(tmp_path: Path) -> None:
    git = _repo(tmp_path)
    (git / "refs" / "heads" / "feature").write_text(SHA + "\n")
    worktree_git = git / "worktrees" / "wt"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/feature\n")
    (worktree_git / "commondir").write_text("../..\n")
    work = tmp_path / "wt"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {worktree_git}\n")
    assert build_info.git_commit(work) == SHA


@pytest.mark.parametrize("head", ["", "ref: refs/heads/missing\n", "ref: ../../etc/passwd\n",
                                  "ref: refs/../../x\n", "not a commit\n"])
def test_no_commit_when_git_does_not_name_one(tmp_path: Path, head: str) -> None:
    git = _repo(tmp_path)
    (git / "HEAD").write_text(head)
    assert build_info.git_commit(tmp_path / "tool") is None
    assert build_info.git_commit(tmp_path / "nowhere") is None


def test_the_build_record_comes_first_then_git_then_unknown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "tool" / "release"
    package.mkdir(parents=True)
    git = _repo(tmp_path)
    (git / "HEAD").write_text(OTHER + "\n")
    monkeypatch.setattr(build_info, "PACKAGE", package)
    monkeypatch.setattr(build_info, "COMMIT_FILE", package / "_commit.txt")
    assert build_info.describe("9.9.9") == f"release 9.9.9 ({OTHER[:12]})"
    (package / "_commit.txt").write_text(SHA + "\n")
    assert build_info.describe("9.9.9") == f"release 9.9.9 ({SHA[:12]})"
    (package / "_commit.txt").write_text("garbage\n")
    (git / "HEAD").unlink()
    assert build_info.describe("9.9.9") == "release 9.9.9 (unknown commit)"
