"""Build and push images through the Docker Engine API (the ``docker`` SDK).

The SDK drives the engine's classic builder, which writes a plain single-platform image
manifest: no provenance or SBOM attestation index, which Lambda would reject.
"""

from __future__ import annotations

import collections
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.adapters.registry import Login
from release.errors import ReleaseError

LOG_TAIL = 15
BUILD_TIMEOUT = 1800


@dataclass(frozen=True)
class BuildRequest:
    """One image to build."""

    context: Path
    dockerfile: Path
    image: str  # host/repository
    tag: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class BuildFailedError(ReleaseError):
    """The Dockerfile failed; carries the last lines of the build log."""


def connect() -> Any:
    """A Docker client for the engine at DOCKER_HOST (or the default socket)."""
    import docker  # deferred: most commands never talk to Docker
    from docker.errors import DockerException

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    hint = ("start Docker (for the local cloud: `release local up`), or set DOCKER_HOST")
    refused = unix_socket_refuses(host)
    if refused:
        raise ReleaseError(f"Docker engine not reachable at {host}: {refused}", hint)
    client = None
    try:
        client = docker.from_env(timeout=BUILD_TIMEOUT)
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


@dataclass
class DockerEngine:
    """Builds and pushes with one Docker client; ``log`` receives progress lines."""

    client: Any
    log: Callable[[str], None] = lambda _line: None

    def close(self) -> None:
        """Close the connection to the engine."""
        self.client.close()

    def build(self, request: BuildRequest) -> str:
        """Build and tag the image; return its image id."""
        try:
            dockerfile = str(request.dockerfile.relative_to(request.context))
        except ValueError:
            dockerfile = str(request.dockerfile)  # the SDK adds it to the context for us
        tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        image_id = None
        stream = self.client.api.build(
            path=str(request.context), dockerfile=dockerfile,
            tag=f"{request.image}:{request.tag}", buildargs=dict(request.build_args),
            platform=request.platform, labels=dict(request.labels),
            network_mode="none", rm=True, forcerm=True, decode=True, pull=False,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    if line.strip():
                        tail.append(line)
                        self.log(line)
            if "error" in chunk:
                detail = str(chunk["error"]).strip()
                lines = "\n".join(f"    {line}" for line in tail)
                raise BuildFailedError(
                    f"docker build failed: {detail}\n  last build output:\n{lines}",
                    f"fix the Dockerfile ({request.dockerfile}) and run the release again",
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
        if image_id is None:
            image_id = str(self.client.images.get(f"{request.image}:{request.tag}").id)
        return image_id

    def push(self, image: str, tag: str, login: Login) -> str:
        """Push ``image:tag``; return the manifest digest the registry stored."""
        auth = ({"username": login.username, "password": login.password}
                if login.username else None)
        try:
            chunks = list(self.client.api.push(image, tag=tag, auth_config=auth, stream=True,
                                               decode=True))
        except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds; all mean "push broke"
            raise ReleaseError(f"push of {image}:{tag} interrupted: {exc}",
                               "rerun the release; layers already pushed are reused") from None
        digest = None
        for chunk in chunks:
            if "error" in chunk:
                raise ReleaseError(f"push of {image}:{tag} failed: {str(chunk['error']).strip()}",
                                   "check the registry is up and the login is valid; "
                                   "rerunning the release resumes from here")
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
        if digest is None:
            raise ReleaseError(f"push of {image}:{tag} reported no digest")
        return digest
