"""The Docker Engine API (the ``docker`` SDK), for what still talks to the engine itself:
``release auth azure``'s registry login and the local cloud's engine checks.

Images are not built here: builds go through BuildKit and the docker CLI
(:mod:`release.adapters.buildkit`).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from release.errors import ReleaseError

TIMEOUT = 120


def connect(environ: Mapping[str, str]) -> Any:
    """A Docker client for the engine at ``environ``'s DOCKER_HOST (or the default socket)."""
    import docker  # deferred: most commands never talk to Docker
    from docker.errors import DockerException

    host = environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    hint = ("start Docker (for the local cloud: `release local up`), or set DOCKER_HOST")
    refused = unix_socket_refuses(host)
    if refused:
        raise ReleaseError(f"Docker engine not reachable at {host}: {refused}", hint)
    client = None
    try:
        client = docker.from_env(timeout=TIMEOUT, environment=dict(environ))
        client.ping()
    except DockerException as exc:
        if client is not None:
            client.close()
        raise ReleaseError(f"Docker engine not reachable: {exc}", hint) from None
    return client


def unix_socket_refuses(host: str) -> str | None:
    """Why a ``unix://`` Docker host does not accept connections (None: it does, or not unix).

    Probing ourselves first matters: the SDK leaks its socket when the engine is not there.
    """
    if not host.startswith("unix://"):
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(host.removeprefix("unix://"))
    except OSError as exc:
        return str(exc.strerror or exc)
    return None
