"""What the local cloud needs on the machine: Debian packages and Python modules."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

from release.errors import ReleaseError

Runner = Callable[[Sequence[str]], None]
Which = Callable[[str], str | None]
FindModule = Callable[[str], object | None]

# Debian package -> a command it installs, which tells whether it is there.
APT_PACKAGES: dict[str, str] = {
    "docker.io": "dockerd",
    "docker-registry": "docker-registry",
    "busybox-static": "busybox",
    "apache2-utils": "htpasswd",
}

# Importable module -> the requirement that provides it (pyproject extra `local`).
PYTHON_MODULES: dict[str, str] = {
    "moto.server": "moto[server]",
    "flask": "moto[server]",
    "cryptography": "cryptography",
    "docker": "docker",
    "botocore": "botocore",
    "jwt": "PyJWT",  # the local Entra ID verifies OIDC assertions (azure-identity brings it)
}


def run_to_stderr(argv: Sequence[str]) -> None:
    """Run ``argv``; its output is progress for people, so it goes to stderr."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(list(argv), check=True, stdout=sys.stderr, stderr=sys.stderr, env=env)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ReleaseError(
            f"`{' '.join(argv)}` failed: {exc}", hint="run it by hand to see why"
        ) from exc


def missing_packages(which: Which = shutil.which) -> list[str]:
    """The Debian packages whose command is not on PATH."""
    return [package for package, command in APT_PACKAGES.items() if which(command) is None]


def install_packages(
    packages: Sequence[str],
    run: Runner,
    say: Callable[[str], None],
    is_root: bool,
) -> None:
    """``apt-get update`` once, then ``apt-get install -y`` the missing packages."""
    if not packages:
        return
    command = f"apt-get update && apt-get install -y {' '.join(packages)}"
    if not is_root:
        raise ReleaseError(
            f"the local cloud needs Debian packages that are missing: {', '.join(packages)}",
            hint=f"install them as root: sudo sh -c '{command}'",
        )
    say(f"installing {', '.join(packages)} with apt")
    run(["apt-get", "update"])
    run(["apt-get", "install", "-y", *packages])


def check_python_modules(find: FindModule = importlib.util.find_spec) -> None:
    """Raise, with the pip command to run, when a module the local cloud needs is missing."""
    missing = sorted(
        {req for module, req in PYTHON_MODULES.items() if not _importable(find, module)}
    )
    if missing:
        quoted = " ".join(f"'{req}'" for req in missing)
        raise ReleaseError(
            f"the local cloud needs Python packages that are missing: {', '.join(missing)}",
            hint=f"{sys.executable} -m pip install {quoted}  (or: pip install 'release[local]')",
        )


def _importable(find: FindModule, module: str) -> bool:
    try:
        return find(module) is not None
    except (ImportError, ValueError):
        return False
