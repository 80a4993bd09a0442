"""The image a seeded ECS service runs before its first release: a page saying so, served
on the task's container port, with ``/health`` for health checks. Built from the local base
image (no network), pushed once per repository and port to the local registry, so a
seeded service really runs (and `release rollback` to the seeded revision runs too)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

from release.errors import ReleaseError
from release.local import base_images, docker_engine
from release.local.state import LocalState

TAG = "initial"
_made: set[str] = set()
_lock = threading.Lock()


def dockerfile(port: int) -> bytes:
    """The placeholder's Dockerfile for ``port``."""
    return (f"FROM {base_images.BUSYBOX_IMAGE}\n"
            "RUN mkdir -p /www && echo 'seeded by release local seed: not released yet' "
            "> /www/index.html && echo ok > /www/health\n"
            f'CMD ["httpd", "-f", "-p", "{port}", "-h", "/www"]\n').encode()


def maker(state: LocalState) -> Callable[[str, int | None], str]:
    """``image(repository, port)``: the placeholder's reference in the local registry, built
    and pushed when missing (port None: a function's, which the local cloud does not run)."""
    def image(repository: str, port: int | None) -> str:
        reference = f"{state.registry_host}/{repository}:{TAG}"
        if port is None:
            return reference
        with _lock:
            if reference not in _made:
                _build_and_push(state, reference, port)
                _made.add(reference)
        return reference
    return image


def _build_and_push(state: LocalState, reference: str, port: int) -> None:
    engine = docker_engine.client(state.docker_host)
    try:
        engine.images.build(fileobj=io.BytesIO(dockerfile(port)), tag=reference, rm=True,
                            network_mode="none")
        repository, _, tag = reference.rpartition(":")
        errors = [str(line["error"]) for line in engine.api.push(
            repository, tag, stream=True, decode=True, auth_config={
                "username": state.registry_username, "password": state.registry_password})
            if isinstance(line, dict) and line.get("error")]
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds
        errors = [str(exc)]
    finally:
        engine.close()
    if errors:
        raise ReleaseError(f"placeholder image {reference}: {errors[0]}",
                           "is the local cloud's engine running? `release local status`")
