"""Build keys: an image's identity, computed from the git hashes of everything it is built from.

Pure: the git object ids come in, the key goes out. The ids of paths that hold symbolic
links cover what the links point to (``git.build_ids``), except a build context's, which
keeps the link text: Docker sends a link in a context as a link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from release.config.model import Service

KEY_FORMAT = 1  # bump to force every image to be rebuilt when the key recipe changes
KEY_HEX_CHARS = 20
# Made once: json.dumps with options builds a new encoder per call, a third of a key's cost.
_BUILD_JSON = json.JSONEncoder(separators=(",", ":"))
_CONFIG_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class BuildInputs:
    """What an image is a function of."""

    context: str
    dockerfile: str
    watch: Mapping[str, str]
    build_args: Mapping[str, str]
    platform: str
    # Hashed only when set, so images of services without them keep their keys.
    target: str | None = None
    platforms: tuple[str, ...] = ()  # several: a multi-platform image (one is ``platform``)
    attestations: bool = False
    secret_ids: tuple[str, ...] = ()  # ids only: a secret's value never enters a key


def context_of(service: Service) -> str:
    """``service``'s build context as ``git.build_ids`` takes it: the context and the
    Dockerfile, apart by a NUL (which no git path holds), since BuildKit filters the context
    by ``<Dockerfile>.dockerignore`` when there is one, else by the context's ``.dockerignore``.
    Services sharing a context but not an ignore file get different ids."""
    return f"{service.context}\0{service.dockerfile}"


def inputs_for(service: Service, object_ids: Mapping[str, str]) -> BuildInputs:
    """The build inputs of ``service``, given git object ids by repository path (its context
    under ``context_of(service)``; else, from a caller that asked for the bare context, that)."""
    context = object_ids.get(context_of(service))
    return BuildInputs(
        context=object_ids[service.context] if context is None else context,
        dockerfile=object_ids[service.dockerfile],
        watch={path: object_ids[path] for path in service.watch},
        build_args=dict(service.build_args),
        platform=service.platform,
        target=service.target,
        platforms=service.platforms,
        attestations=service.attestations,
        secret_ids=tuple(sorted(secret.id for secret in service.build_secrets)),
    )


def paths_of(service: Service) -> tuple[str, ...]:
    """The repository paths whose object ids make up ``service``'s key."""
    return (service.context, service.dockerfile, *service.watch)


def build_key(inputs: BuildInputs) -> str:
    """A short, stable hex digest of the inputs; equal inputs give equal keys."""
    hashed: dict[str, object] = {
        "format": KEY_FORMAT,
        "context": inputs.context,
        "dockerfile": inputs.dockerfile,
        "watch": sorted(inputs.watch.items()),
        "build_args": sorted(inputs.build_args.items()),
        "platform": inputs.platform,
    }
    # What a build setting changes in the image; cache, builder and tags change nothing.
    if inputs.target is not None:
        hashed["target"] = inputs.target
    if len(inputs.platforms) > 1:
        hashed["platforms"] = list(inputs.platforms)
    if inputs.attestations:
        hashed["attestations"] = True
    if inputs.secret_ids:
        hashed["secret_ids"] = sorted(inputs.secret_ids)
    canonical = _BUILD_JSON.encode(hashed)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_HEX_CHARS]


def config_key(deployment: Mapping[str, object], object_ids: Mapping[str, str]) -> str:
    """A digest of what a service's deployment is made from besides its image.

    ``deployment`` is the environment's resolved values for the service; ``object_ids`` the
    git ids of its config files (task definition template, state machine definition, S3
    sources), through their links. A change to any of them, or to what a link in them points
    to, changes the key, so the plan sees config-only changes.
    """
    canonical = _CONFIG_JSON.encode({"format": KEY_FORMAT, "deployment": deployment,
                                     "files": sorted(object_ids.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_HEX_CHARS]


def config_paths(service: Service) -> tuple[str, ...]:
    """The repository files a service's deployment reads, besides its build inputs."""
    paths: list[str] = []
    if service.ecs is not None:
        paths.append(service.ecs.task_definition)
    if service.step_functions is not None:
        paths.append(service.step_functions.definition)
    paths.extend(item.source for item in service.s3_files)
    return tuple(paths)
