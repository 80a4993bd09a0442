"""Run the real workflow files under `act` on this host, against a private local cloud.

`act -P ubuntu-latest=-self-hosted` runs every job on the host, in a copy of the work
directory, with no container. Nothing is fetched from the network:

- remote actions and reusable workflows (`uses: acme/release/...@<sha>`) resolve to local
  folders through `--local-repository`;
- `actions/checkout` of another repository is replaced by a local STAND-IN (a composite
  action written here) that clones the repository from a local folder at the requested
  commit. act itself skips `actions/checkout` of the repository under test: it has already
  copied the work directory.

The OIDC issuer of the local cloud stands behind ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN,
given to every job with `--env` (act does not honour `permissions: id-token`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from release.local import sandbox
from release.local.state import LocalState

REPO = Path(__file__).resolve().parents[2]
ACT = Path(sys.executable).with_name("act")
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"  # v4.2.2
TOOL_REPOSITORY = "acme/release"
# What a repository of the release tool holds (the package, its actions, its workflows).
TOOL_FILES = ("actions", ".github/workflows/deploy.yml", ".github/workflows/release.yml",
              "release", "pyproject.toml", "README.md", ".gitignore")
RUN_TIMEOUT = 420  # seconds for one whole workflow run

STAND_IN = """\
# TEST STAND-IN for actions/checkout (no network here): clones `repository` at `ref` from
# $RELEASE_TEST_REPOSITORIES/<owner>/<name> into `path`. act skips the checkout of the
# repository under test itself, so only checkouts of other repositories reach this.
name: checkout stand-in
description: Test stand-in for actions/checkout of another repository, from a local folder.
inputs:
  repository: {description: OWNER/REPO, default: ''}
  ref: {description: the commit, default: ''}
  path: {description: where, under the workspace, default: .}
  persist-credentials: {description: ignored, default: 'false'}
  fetch-depth: {description: ignored, default: '1'}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REPOSITORY: ${{ inputs.repository }}
        REF: ${{ inputs.ref }}
        DEST: ${{ inputs.path }}
      run: |
        if [[ -z "$REPOSITORY" || -z "$REF" ]]; then
          echo "stand-in: only a checkout of another repository at a ref is replaced"; exit 1
        fi
        git clone -q --no-checkout "$RELEASE_TEST_REPOSITORIES/$REPOSITORY" \\
          "$GITHUB_WORKSPACE/$DEST"
        git -C "$GITHUB_WORKSPACE/$DEST" -c advice.detachedHead=false checkout -q "$REF"
        echo "stand-in checkout: $REPOSITORY@$REF into $DEST"
"""


@dataclass(frozen=True)
class Run:
    """One `act` run: its exit code, its whole log, and how long it took."""

    returncode: int
    log: str
    seconds: float

    def lines(self, job: str) -> list[str]:
        """The log lines of the jobs whose name contains ``job`` (e.g. 'build ')."""
        return [line for line in self.log.splitlines()
                if line.startswith("[") and job in line.split("]", 1)[0]]

    def jobs(self) -> set[str]:
        """The names of the jobs that ran (``workflow/job`` as act prints them)."""
        return {line[1:].split("]", 1)[0].strip() for line in self.log.splitlines()
                if line.startswith("[") and "🏁" in line}


def tool_files(source: Path = REPO) -> list[str]:
    """The tool's files in ``source``'s work tree (tracked or new, never ignored)."""
    out = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others",
         "--exclude-standard", "--", *TOOL_FILES],
        capture_output=True, check=True, timeout=60).stdout.decode()
    return sorted(p for p in out.split("\0") if p and (source / p).is_file())


def copy_tool(target: Path) -> None:
    """Copy the release tool (as it is in this work tree) into ``target``."""
    for rel in tool_files():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target / rel)


def commit_all(root: Path, message: str) -> str:
    """Commit everything in ``root``; return the new commit."""
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", message)
    return sandbox.git(root, "rev-parse", "HEAD")


def tool_repository(parent: Path) -> tuple[Path, str]:
    """A git repository holding only the release tool, as ``acme/release`` would: its folder
    (``parent/acme/release``) and its commit."""
    root = parent / TOOL_REPOSITORY
    root.mkdir(parents=True)
    copy_tool(root)
    sandbox.git(root, "init", "-q", "-b", "main")
    return root, commit_all(root, "release tool")


class Act:
    """Runs workflows of a work directory under act, on the host, against one local cloud."""

    def __init__(self, state: LocalState, scratch: Path) -> None:
        self.state = state
        self.scratch = scratch
        self.stand_in = scratch / "checkout-stand-in"
        self.stand_in.mkdir(parents=True)
        (self.stand_in / "action.yml").write_text(STAND_IN)
        self.repositories = scratch / "repositories"  # OWNER/NAME folders the stand-in clones
        self.repositories.mkdir()
        self.tools = scratch / "bin"  # uv only: the jobs must install release themselves
        self.tools.mkdir()
        uv = Path(sys.executable).with_name("uv")
        if uv.exists():
            (self.tools / "uv").symlink_to(uv)
        self._runs = 0

    def environ(self) -> dict[str, str]:
        """The host's environment for act, without anything of a CI job or cloud session
        around the tests, and with no `release` on PATH."""
        skip = ("GITHUB_", "ACTIONS_", "RUNNER_", "AWS_", "AZURE_", "RELEASE_", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        path = [p for p in env.get("PATH", "").split(os.pathsep)
                if p and not (Path(p) / "release").exists()]
        env["PATH"] = os.pathsep.join([str(self.tools), *path])
        return env

    def run(self, workdir: Path, event: str, *, workflow: str, payload: Mapping[str, object]
            | None = None, variables: Mapping[str, str] | None = None,
            local_repositories: Iterable[tuple[str, Path]] = ()) -> Run:
        """``act EVENT`` in ``workdir`` for one workflow file; the log of the whole run."""
        self._runs += 1
        cache = self.scratch / f"act-{self._runs}"
        command = [str(ACT), event, "-W", workflow, "-P", "ubuntu-latest=-self-hosted",
                   "--no-cache-server", "--action-cache-path", str(cache),
                   "--local-repository", f"{CHECKOUT}={self.stand_in}",
                   "--env", f"ACTIONS_ID_TOKEN_REQUEST_URL={self.state.oidc_request_url}",
                   "--env", f"ACTIONS_ID_TOKEN_REQUEST_TOKEN={self.state.oidc_request_token}",
                   "--env", f"RELEASE_TEST_REPOSITORIES={self.repositories}"]
        docker_host = self.state.environment().get("DOCKER_HOST")
        if docker_host:
            command += ["--env", f"DOCKER_HOST={docker_host}"]
        for name, folder in local_repositories:
            command += ["--local-repository", f"{name}={folder}"]
        for key, value in (variables or {}).items():
            command += ["--var", f"{key}={value}"]
        if payload is not None:
            event_file = self.scratch / f"event-{self._runs}.json"
            event_file.write_text(json.dumps(payload))
            command += ["-e", str(event_file)]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=workdir, env=self.environ(),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            log, _ = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)  # act and the job processes it started, by its PID
            log, _ = process.communicate(timeout=30)
            log += f"\n(test: act stopped after {RUN_TIMEOUT}s)"
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return Run(process.returncode, log, time.monotonic() - started)
