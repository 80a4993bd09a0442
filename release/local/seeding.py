"""Seed one repository's services into the running local cloud (`local up` and `local seed`).

The local cloud is one per machine; each repository names what it needs in its own
``environments/local.yaml``. Seeding creates that, in moto, only when the file's endpoints
are the running cloud's: a file that points anywhere else is refused, nothing is created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from release.config.model import Environment
from release.errors import ReleaseError
from release.local.state import AZURE, MOTO, REGISTRY, LocalState

LOCAL_FILE = Path("environments") / "local.yaml"


class NothingToSeedError(ReleaseError):
    """This repository gives the running cloud nothing to create: no release.yaml, no
    environments/local.yaml, or one that points at another cloud (refused)."""


@dataclass(frozen=True)
class Seeded:
    """What one seeding did: a line per resource made or found."""

    repo_root: Path
    lines: tuple[str, ...]


def seed_repository(repo_root: Path, state: LocalState,
                    log: Callable[[str], None]) -> Seeded:
    """Create, in the running cloud ``state``, what ``repo_root``'s local.yaml names.

    Raises when there is no release.yaml or environments/local.yaml, or when the file's
    aws.endpoint_url or registry.host is not this cloud's (then nothing is created).
    """
    from release.adapters.aws.clients import AwsClients
    from release.config import load_config
    from release.config.load import environment_files
    from release.local import placeholder
    from release.local.seed import Trust, seed

    if not (repo_root / "release.yaml").is_file():
        raise NothingToSeedError(f"no release.yaml in {repo_root} or above; seeded nothing",
                           hint="run it inside your repository, or pass --root")
    if "local" not in environment_files(repo_root):
        raise NothingToSeedError(
            f"{repo_root / LOCAL_FILE} does not exist; seeded nothing",
            hint=f"write one naming your services, with {expected_endpoints(state)}")
    config = load_config(repo_root, ("local",))
    env = config.environments["local"]
    check_points_here(env, state)
    if env.aws is None:  # refused above; kept for the type checker
        raise ReleaseError(f"{env.path} has no aws block; seeded nothing")
    clients = AwsClients(env.aws)
    try:
        lines = seed(config, env, clients, log, Trust.of(state),
                     runnable=placeholder.maker(state))
    finally:
        clients.close()
    if env.azure is not None and AZURE in state.components:
        from release.local.azure.seed import seed_apps

        apps = seed_apps(repo_root, env, state, placeholder.maker(state))
        for line in apps:
            log(line)
        lines += apps
    return Seeded(repo_root, tuple(lines))


def check_points_here(env: Environment, state: LocalState) -> None:
    """Raise unless ``env``'s aws.endpoint_url and registry.host are ``state``'s cloud."""
    endpoint = env.aws.endpoint_url if env.aws is not None else None
    registry = env.registry.host
    wanted = _endpoint(state)
    found = {"aws.endpoint_url": _norm(endpoint), "registry.host": registry}
    if env.azure is not None:  # its container apps are seeded into this cloud's Azure
        found["azure.management_url"] = _norm(env.azure.management_url)
    else:
        wanted.pop("azure.management_url", None)
    differs = [f"{key} {found[key] or '(none)'} (this cloud: {value})"
               for key, value in wanted.items() if found[key] != value]
    if differs:
        raise NothingToSeedError(
            "environments/local.yaml points elsewhere; created no infrastructure: "
            + "; ".join(differs),
            hint=f"to seed this cloud, set {expected_endpoints(state)} in "
                 f"{env.path}, then run `release local seed`")


def expected_endpoints(state: LocalState) -> str:
    """``aws.endpoint_url: ... and registry.host: ...`` of the running cloud."""
    wanted = _endpoint(state)
    return " and ".join(f"{key}: {value}" for key, value in wanted.items())


def _endpoint(state: LocalState) -> dict[str, str]:
    wanted = {}
    if MOTO in state.components:
        wanted["aws.endpoint_url"] = _norm(state.aws_endpoint_url) or ""
    if REGISTRY in state.components:
        wanted["registry.host"] = state.registry_host
    if AZURE in state.components:
        wanted["azure.management_url"] = state.azure_url
    return wanted


def _norm(url: str | None) -> str | None:
    return url.rstrip("/") if url else url
