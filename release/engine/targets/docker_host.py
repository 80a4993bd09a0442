"""A container on a Docker host (a VM reached over SSH, or a local socket), the way the batch
detector ran as ``docker run -p 6000:80`` in a tmux session, released safely:

pull by digest -> take the host's lock -> create the new container -> (beside the old one
when nothing binds a host port, else right after stopping it) start it -> wait for its
health check -> keep the old one stopped as ``<name>-previous`` for ``release rollback``.
A failed health check removes the new container, starts the old one again and fails the
release with the new container's last log lines. The seconds without service (old stopped
to new healthy) are measured and reported.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from release.adapters import docker_host_tunnel
from release.adapters.docker_host import SPEC_JSON_LABEL, Host
from release.config import docker_host as host_config
from release.config.model import DockerHostDeployment, ServiceDeployment
from release.engine import images
from release.engine.context import Context
from release.engine.targets.base import Change, Decision, Done, Observed, Wanted
from release.errors import ReleaseError
from release.planning import diff, docker_swap, recorded
from release.planning.docker_swap import Container, HostState

POLL_SECONDS = 0.25


class DockerHostKind:
    """The ``docker_host`` target kind."""

    name: Final = "docker_host"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service with a Docker host in this environment."""
        return dep.docker_host is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> HostState:
        """The service's current and previous containers on the host."""
        with _host(ctx, dep) as host:
            return host.state()

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Release when the host runs no container, another image or other settings."""
        conf, now = _conf(dep), seen[self.name].current
        return Decision(docker_swap.step(dep.name, want.image, conf, now,
                                         ctx.config_keys.get(dep.name)),
                        _current_spec(now),
                        docker_swap.run_spec(conf, want.image) if want.image else None)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Pull, lock, swap, wait for health; the old container kept for rollback."""
        if decision.step.action == "none":
            return Done(detail=self.describe(seen[self.name]))
        if want.image is None:
            raise ReleaseError(f"{dep.name}: no image to run on the Docker host")
        reg = ctx.env.registry_of(dep)
        login = images.login(ctx, reg) if reg.type != "oci" else None
        labels = {docker_swap.IMAGE_LABEL: want.image,
                  docker_swap.SPEC_LABEL: docker_swap.spec_key(_conf(dep)),
                  **recorded.tags(want.build_key, ctx.commit, ctx.config_keys.get(dep.name))}
        with _host(ctx, dep) as host:
            host.pull(want.image, login)
            with host.locked(want.image, _owner(ctx), ctx.log):
                state = host.state()  # again, under the lock: another release may have run
                if docker_swap.step(dep.name, want.image, _conf(dep), state.current,
                                    ctx.config_keys.get(dep.name)).action == "none":
                    return Done(detail=self.describe(state))
                gap = _release(ctx, host, state, Swap(want.image, labels))
        ctx.log(f"{dep.name}: swapped on {_shown(dep)}: {gap:.2f} s without service")
        return Done(updated=True, detail=f"{_conf(dep).name} on {_shown(dep)}; "
                                         f"{gap:.2f} s without service during the swap",
                    url=docker_swap.url(host_config.parse_host(_conf(dep).host).host,
                                        _conf(dep)))

    def describe(self, state: HostState) -> str:
        """The container, its image digest (short) and state."""
        return docker_swap.describe(state)

    def running_commit(self, state: HostState) -> str | None:
        """The commit recorded on the running container."""
        return state.current.labels.get(recorded.SOURCE_COMMIT_TAG) if state.current else None

    def record(self, ctx: Context, dep: ServiceDeployment, state: HostState,
               tags: Mapping[str, str]) -> None:
        """Nothing: a container's labels are fixed when it is created, with this release's
        keys; an unchanged container keeps the keys of the release that started it."""

    def rollback(self, ctx: Context, dep: ServiceDeployment, to: str | None) -> Change:
        """Start the kept previous container again (the current one becomes the previous)."""
        with _host(ctx, dep) as host:
            state = host.state()
            before = docker_swap.describe(state)
            old = state.previous
            if old is None or (to and not _matches(old, to)):
                raise ReleaseError(
                    f"{dep.name}: no previous container {'matching ' + to + ' ' if to else ''}"
                    f"on {_shown(dep)} (kept: {docker_swap.describe(HostState(old))})",
                    "a release keeps the container it replaced as "
                    f"{_conf(dep).name}{docker_swap.PREVIOUS_SUFFIX}; release an older "
                    "commit with `release deploy --allow-downgrade` instead")
            with host.locked(old.image, _owner(ctx), ctx.log):
                gap = _bring_back(ctx, host, state)
            after = docker_swap.describe(host.state())
        return Change(dep.name, self.name, before, after, "rolled-back",
                      f"{gap:.2f} s without service during the swap")

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """Image, environment (by name), ports, network, secret files, health."""
        desired = decision.desired or {**(decision.current or {}),
                                       "image": "(the image to build)"}
        return diff.lambda_configuration(decision.current or {}, desired, hidden=hidden)


@dataclass(frozen=True)
class Swap:
    """The container to start: its image and labels."""

    image: str
    labels: Mapping[str, str]


def _release(ctx: Context, host: Host, state: HostState, swap: Swap) -> float:
    """Start the new container in the old one's place; the seconds without service."""
    conf, old = host.dep, state.current
    next_name = conf.name + docker_swap.NEXT_SUFFIX
    leftover = host.find(next_name)
    if leftover is not None:  # a release killed half-way (we hold the lock: nobody else's)
        host.remove(leftover.id)
    new = host.create(next_name, swap.image, swap.labels)
    beside = docker_swap.swap_mode(conf) == "beside" or old is None or not old.running
    began = ctx.clock()
    if not beside and old is not None:
        ctx.log(f"{conf.name}: stopping {old.name} (the new container needs its ports)")
        host.stop(old.id)
        began = ctx.clock()
    host.start(new)
    why = _wait_healthy(ctx, host, new)
    if why is not None:
        failure = _failed(host, new, why, "the previous container serves again"
                          if old is not None and old.running else "it was removed")
        _undo(ctx, host, new, old if not beside else None)
        raise failure
    gap = 0.0 if beside else ctx.clock() - began
    if beside and old is not None and old.running:
        host.stop(old.id)  # the new one serves: the old one may go
    _keep(host, state, old, new)
    return gap


def _keep(host: Host, state: HostState, old: Container | None, new: str) -> None:
    """Names after a good swap: the new container is ``name``, the old ``name-previous``
    (the one kept before it removed)."""
    name = host.dep.name
    if old is not None:
        if state.previous is not None:
            host.remove(state.previous.id)
        host.rename(old.id, name + docker_swap.PREVIOUS_SUFFIX)
    host.rename(new, name)


def _undo(ctx: Context, host: Host, new: str, stopped: Container | None) -> None:
    """Remove the failed container and start the old one again when it was stopped."""
    host.remove(new)
    if stopped is not None:
        ctx.log(f"{host.dep.name}: starting {stopped.name} again")
        host.start(stopped.id)
        if _wait_healthy(ctx, host, stopped.id) is not None:
            ctx.log(f"{host.dep.name}: warning: {stopped.name} runs again but does not pass "
                    "its health check")


def _bring_back(ctx: Context, host: Host, state: HostState) -> float:
    """Swap the current and previous containers; the seconds without service."""
    name, old, now = host.dep.name, state.previous, state.current
    assert old is not None  # noqa: S101 - the caller checked
    began = ctx.clock()
    if now is not None and now.running:
        host.stop(now.id)
    host.start(old.id)
    why = _wait_healthy(ctx, host, old.id)
    if why is not None:
        failure = _failed(host, old.id, why, "the current container serves again")
        host.stop(old.id)
        if now is not None and now.running:
            host.start(now.id)
        raise failure
    gap = ctx.clock() - began
    if now is not None:
        host.rename(now.id, name + docker_swap.NEXT_SUFFIX)
    host.rename(old.id, name)
    if now is not None:
        host.rename(now.id, name + docker_swap.PREVIOUS_SUFFIX)
    return gap


def _wait_healthy(ctx: Context, host: Host, ident: str) -> str | None:
    """Wait until the container passes its health check; why not, when it stops or does
    not pass in time."""
    health = host.dep.health
    timeout = health.timeout_seconds if health else docker_swap.SETTLE_SECONDS + 30
    started = ctx.clock()
    while True:
        running = host.running(ident)
        ok = host.probe(ident) if running and health else None
        verdict = docker_swap.health_verdict(running=running, probe_ok=ok, started=started,
                                             now=ctx.clock(), timeout=timeout,
                                             has_probe=health is not None)
        if verdict == "healthy":
            return None
        if verdict == "failed":
            if not running:
                return "exited"
            return (f"did not pass its health check (GET :{health.port}{health.path}) in "
                    f"{timeout} s" if health else "did not keep running")
        ctx.sleep(POLL_SECONDS)


def _failed(host: Host, ident: str, why: str, after: str) -> ReleaseError:
    """The release's error: what the container did, what runs now, its last log lines."""
    return ReleaseError(f"{host.dep.name}: the new container {why} on {host.shown}; {after}",
                        "its last log lines:\n" + host.logs(ident))


@contextmanager
def _host(ctx: Context, dep: ServiceDeployment) -> Iterator[Host]:
    conf = _conf(dep)
    try:
        endpoint = host_config.parse_host(conf.host)
    except host_config.HostRefusedError as exc:  # the loader refuses it first; kept as a guard
        raise ReleaseError(f"{dep.name}: docker_host.host is refused: {exc}",
                           host_config.HOST_HINT) from None
    with docker_host_tunnel.engine(endpoint, ctx.environ) as client:
        yield Host(client, conf, str(endpoint))


def _conf(dep: ServiceDeployment) -> DockerHostDeployment:
    if dep.docker_host is None:
        raise ReleaseError(f"{dep.name} has no docker_host in this environment")
    return dep.docker_host


def _shown(dep: ServiceDeployment) -> str:
    return str(host_config.parse_host(_conf(dep).host))


def _owner(ctx: Context) -> str:
    run = ctx.environ.get("GITHUB_RUN_ID")
    return f"commit {ctx.commit[:12] or '?'}" + (f", run {run}" if run else "")


def _matches(container: Container, to: str) -> bool:
    digest = container.labels.get(docker_swap.IMAGE_LABEL, container.image).rpartition("@")[2]
    return to in {container.id[:len(to)], digest, digest.removeprefix("sha256:")[:len(to)]}


def _current_spec(now: Container | None) -> dict[str, object]:
    if now is None:
        return {"image": None}
    try:
        spec = json.loads(now.labels.get(SPEC_JSON_LABEL, "{}"))
    except ValueError:
        spec = {}
    return {**(spec if isinstance(spec, dict) else {}), "image": now.image}


KIND = DockerHostKind()
