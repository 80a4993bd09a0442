"""What `release plan` and `release status` read from Docker hosts: the keys a release
recorded as labels on each service's running container (one SSH tunnel per service, a few
at once), merged with what the AWS targets of the same services record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from release.adapters import docker_host_tunnel
from release.adapters.docker_host import Host, engine_time
from release.config.docker_host import HostRefusedError, parse_host
from release.config.model import Environment, ServiceDeployment
from release.errors import ReleaseError
from release.planning.reconcile import Deployed
from release.planning.recorded import BUILD_KEY_TAG, CONFIG_KEY_TAG, SOURCE_COMMIT_TAG

AT_ONCE = 4


def on_hosts(env: Environment, names: list[str]) -> list[str]:
    """The named services that run on a Docker host in ``env``."""
    return [n for n in names if env.deployments[n].docker_host is not None]


def read(env: Environment, names: list[str],
         environ: Mapping[str, str]) -> dict[str, Deployed | None]:
    """Service -> what its host runs (None: no container of ours, or it is not running)."""
    chosen = on_hosts(env, names)
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        found = list(pool.map(lambda n: _one(env.deployments[n], environ), chosen))
    return dict(zip(chosen, found, strict=True))


def with_aws(env: Environment, names: list[str], aws: Callable[[Environment], Any],
             environ: Mapping[str, str]) -> tuple[dict[str, Deployed | None], list[str]]:
    """What the environment runs (AWS, and Docker hosts through SSH), and the services gone
    from release.yaml that AWS still runs. An environment with only Docker hosts and no
    aws block reads the hosts alone (``aws``: the environment's clients, made on demand)."""
    running: dict[str, Deployed | None] = {}
    gone: list[str] = []
    if env.aws is not None or not on_hosts(env, names):
        from release.adapters.aws import deployed as deployed_state

        running = deployed_state.read(env, aws(env), names)
        gone = deployed_state.removed(env, aws(env))
    return merged(env, running, read(env, names, environ)), gone


def _one(dep: ServiceDeployment, environ: Mapping[str, str]) -> Deployed | None:
    conf = dep.docker_host
    assert conf is not None  # noqa: S101 - on_hosts chose it
    try:
        endpoint = parse_host(conf.host)
    except HostRefusedError as exc:
        raise ReleaseError(f"{dep.name}: docker_host.host is refused: {exc}") from None
    with docker_host_tunnel.engine(endpoint, environ) as client:
        host = Host(client, conf, str(endpoint))
        now = host.find(conf.name)
        created = client.containers.get(now.id).attrs.get("Created") if now else None
    if now is None or not now.running:
        return None
    return Deployed(now.labels.get(BUILD_KEY_TAG), now.labels.get(SOURCE_COMMIT_TAG),
                    engine_time(created) if created else None, now.labels.get(CONFIG_KEY_TAG))


def merged(env: Environment, aws: Mapping[str, Deployed | None],
           hosts: Mapping[str, Deployed | None]) -> dict[str, Deployed | None]:
    """``aws`` (what the AWS targets record) with each host's state: a service only on a
    host takes the host's; one also on ECS or Lambda is current only when both record the
    same keys (else ``mixed``, as two AWS targets that differ)."""
    out = dict(aws)
    for name, state in hosts.items():
        dep = env.deployments[name]
        if dep.ecs is None and dep.lambda_ is None:
            out[name] = state
            continue
        other = aws.get(name)
        if other is None or other.missing or state is None:
            out[name] = other if other is not None and other.missing else None
        elif (other.build_key, other.config_key) != (state.build_key, state.config_key):
            out[name] = Deployed("mixed", other.commit)
    return out
