"""What a task needs before its containers run, and the engine calls around them: its
secrets resolved, its images pulled (with the registry's credentials on each pull),
containers created and removed. Failures are ECS's stoppedReasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from release.local.ecs import containers as args
from release.local.ecs.model import TaskSpec

Secret = Callable[[str], str]
RegistryAuth = Callable[[str], "tuple[str, str] | None"]


class StartFailedError(Exception):
    """The task cannot start: ``reason`` is ECS's stoppedReason (a container's, too)."""

    def __init__(self, reason: str, container: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.container = container


class AbortedError(Exception):
    """A stop arrived while the task was still starting."""


def resolve_secrets(spec: TaskSpec, secret: Secret) -> dict[str, dict[str, str]]:
    """Container name -> its ``secrets`` as environment values; a missing one fails the task
    with ECS's ResourceInitializationError."""
    resolved: dict[str, dict[str, str]] = {}
    for definition in args.definitions(spec):
        values = resolved.setdefault(str(definition["name"]), {})
        for name, value_from in args.secret_sources(definition):
            try:
                values[name] = secret(value_from)
            except KeyError:
                raise StartFailedError(args.missing_secret_reason(value_from)) from None
    return resolved


def pull(api: Any, image: str, container: str, registry_auth: RegistryAuth) -> None:
    """Pull ``image``; CannotPullContainerError. Not pulled: a digest reference already on
    the engine, and an image of no registry (``release-base/busybox:1``, made by `release
    local up`: no hub is reachable here) that the engine holds."""
    import docker.errors

    host = args.registry_host(image)
    if ("@" in image or not host) and has_image(api, image):
        return
    login = registry_auth(host) if host else None
    auth = {"username": login[0], "password": login[1]} if login else None
    try:
        for event in api.pull(image, stream=True, decode=True, auth_config=auth):
            if isinstance(event, Mapping) and event.get("error"):
                raise StartFailedError(f"CannotPullContainerError: {event['error']}", container)
    except docker.errors.APIError as exc:
        message = exc.explanation or str(exc)
        raise StartFailedError(f"CannotPullContainerError: {message}", container) from None


def create(api: Any, kwargs: Mapping[str, Any]) -> str:
    """Create a container from ``container_args``-style keyword arguments; its id."""
    values = dict(kwargs)
    values["host_config"] = api.create_host_config(**values["host_config"])
    return str(api.create_container(**values)["Id"])


def remove(api: Any, runtime_id: str) -> None:
    """Remove the container by force (SIGKILL when it still runs); gone already is fine."""
    import docker.errors

    try:
        api.remove_container(runtime_id, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: a removal is in progress already
            raise


def has_image(api: Any, image: str) -> bool:
    """True when the engine holds ``image``."""
    import docker.errors

    try:
        api.inspect_image(image)
    except docker.errors.NotFound:  # ImageNotFound is a NotFound
        return False
    return True


def remove_plane_containers(api: Any, plane: str) -> int:
    """Remove every container labelled as this control plane's; how many there were."""
    found = api.containers(all=True, filters={"label": f"{args.PLANE_LABEL}={plane}"})
    for container in found:
        remove(api, str(container["Id"]))
    return len(found)
