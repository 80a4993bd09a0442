"""The default GitHub context for local OIDC tokens, taken from the repository itself."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

_GITHUB_REMOTE = re.compile(r"github\.com[:/](?P<repo>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")


def _git(repo_root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo_root), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def default_claims(repo_root: Path) -> dict[str, Any]:
    """``repository`` from the GitHub remote (else ``local/<dir>``), ``sha`` from HEAD, and the
    GitHub environment ``local``: tokens look like those of a deploy job to the local cloud."""
    remote = _git(repo_root, "remote", "get-url", "origin") or ""
    match = _GITHUB_REMOTE.search(remote)
    repository = match.group("repo") if match else f"local/{repo_root.resolve().name}"
    return {
        "repository": repository,
        "ref": "refs/heads/main",
        "sha": _git(repo_root, "rev-parse", "HEAD") or "0" * 40,
        "environment": "local",
    }


def write_default_claims(path: Path, repo_root: Path) -> bool:
    """Write the claims file unless one exists (people edit it); True when written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(default_claims(repo_root), indent=2) + "\n", encoding="utf-8")
    return True
