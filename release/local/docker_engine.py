"""The Docker engine: use one that answers, else start ``dockerd`` without a bridge network.

There is no bridge network (``--bridge=none``, no iptables), so containers and builds
have no network of their own: build with ``network_mode="none"`` (or ``"host"`` when a
build step must reach 127.0.0.1). Pushes go from dockerd itself, on the host network,
and dockerd treats registries on 127.0.0.0/8 as insecure, so plain HTTP works.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

from release.adapters.docker_engine import unix_socket_refuses

DEFAULT_HOST = "unix:///var/run/docker.sock"


def configured_host() -> str:
    """Where a Docker client connects by default: ``$DOCKER_HOST`` or the usual socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def client(base_url: str, timeout: int = 120) -> docker.DockerClient:
    """A Docker SDK client for ``base_url``."""
    import docker  # deferred: the CLI imports this module for every command

    return docker.DockerClient(base_url=base_url, timeout=timeout)


def answers(base_url: str) -> bool:
    """True when the engine at ``base_url`` answers a ping."""
    if unix_socket_refuses(base_url):
        return False
    import docker.errors

    try:
        engine = docker.DockerClient(base_url=base_url, timeout=3)
    except docker.errors.DockerException:
        return False
    try:
        return bool(engine.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        engine.close()


def dockerd_argv(host: str, pidfile: Path) -> list[str]:
    """The ``dockerd`` command line: no iptables, no bridge, one socket."""
    return [
        "dockerd",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        f"--host={host}",
        f"--pidfile={pidfile}",
    ]
