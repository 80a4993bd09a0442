"""The OCI registry (Debian ``docker-registry``) behind htpasswd, on 127.0.0.1 only."""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from release.errors import ReleaseError

CONFIG_FILE = "registry.yml"
HTPASSWD_FILE = "registry.htpasswd"
STORAGE_DIR = "registry"


def config(state_dir: Path, host: str, port: int, http_secret: str,
           tls: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """The registry's configuration: filesystem storage, htpasswd auth; TLS with ``tls``
    (certificate file, key file), else plain HTTP."""
    made: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(state_dir / STORAGE_DIR)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"{host}:{port}",
            "secret": http_secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "htpasswd": {"realm": "release-local", "path": str(state_dir / HTPASSWD_FILE)},
        },
    }
    if tls is not None:
        made["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    return made


def write_config(state_dir: Path, host: str, port: int,
                 tls: tuple[Path, Path] | None = None) -> Path:
    """Write ``registry.yml`` (keeping its HTTP secret across restarts); return its path."""
    path = state_dir / CONFIG_FILE
    http_secret = secrets.token_hex(16)
    if path.exists():
        previous = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        http_secret = previous.get("http", {}).get("secret") or http_secret
    text = yaml.safe_dump(config(state_dir, host, port, http_secret, tls), sort_keys=False)
    _write_private(path, text.encode())
    return path


def write_htpasswd(state_dir: Path, username: str, password: str) -> Path:
    """Write a bcrypt htpasswd entry for ``username`` (password read from stdin, not argv)."""
    try:
        result = subprocess.run(
            ["htpasswd", "-n", "-B", "-i", username],
            input=password.encode(),
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ReleaseError(
            f"registry: cannot make the htpasswd entry: {exc}",
            hint="install apache2-utils (htpasswd): apt-get install -y apache2-utils",
        ) from exc
    path = state_dir / HTPASSWD_FILE
    _write_private(path, result.stdout.strip() + b"\n")
    return path


def argv(config_path: Path) -> list[str]:
    """``docker-registry serve <config>``."""
    return ["docker-registry", "serve", str(config_path)]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    Path(tmp).replace(path)
