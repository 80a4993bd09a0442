"""One service's containers on a Docker host, through the Docker SDK: read them, pull an
image by digest, take the host's release lock, create, start, stop, rename, remove, probe
and read logs. Decisions (what to run, when a lock is stale, what a probe means) are in
:mod:`release.planning.docker_swap`; the order of a swap is the engine's.

Registry credentials go with the pull request only (the API's ``X-Registry-Auth`` header,
through the tunnel): nothing is written on the host, not even a ``docker login`` entry.

The lock is a container named ``<name>-release-lock``, created (never started) for the
length of a release: the engine creates a name once, atomically, so a second release gets
409 Conflict and is refused. A lock older than ``STALE_LOCK_SECONDS`` on the engine's own
clock (a release that was killed) is removed and taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from release import names
from release.adapters.registry import Login
from release.config.docker_host import SECRETS_DIR
from release.config.model import DockerHostDeployment
from release.errors import ReleaseError
from release.planning import docker_swap
from release.planning.docker_swap import Container, HostState

SPEC_JSON_LABEL = "dev.release.spec"
LOCK_OWNER_LABEL = "dev.release.lock-owner"
STOP_SECONDS = 10


def _errors() -> tuple[type[Exception], ...]:
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return (DockerException, RequestException, OSError)


def engine_time(text: str) -> float:
    """An engine timestamp (RFC 3339, nanoseconds) as seconds since the epoch."""
    head, dot, rest = text.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in rest:
            rest, _, zone = rest.partition(sign)
            zone = sign + zone
    fraction = f".{rest[:6]}" if dot else ""
    return datetime.fromisoformat(f"{head}{fraction}{zone or '+00:00'}").timestamp()


class Host:
    """The containers of one service on one engine (``client``: a Docker SDK client)."""

    def __init__(self, client: Any, dep: DockerHostDeployment, shown: str) -> None:
        self.client = client
        self.dep = dep
        self.shown = shown  # the host, for messages

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except _errors() as exc:
            raise ReleaseError(f"{self.shown}: {what} failed: "
                               f"{names.printable(str(exc))[:600]}") from None

    def find(self, name: str) -> Container | None:
        """The container named ``name``, or None."""
        from docker.errors import NotFound

        try:
            found = self.client.containers.get(name)
        except NotFound:
            return None
        except _errors() as exc:
            raise ReleaseError(f"{self.shown}: reading container {name} failed: "
                               f"{names.printable(str(exc))[:600]}") from None
        state = found.attrs.get("State", {})
        return Container(name=name, id=found.id, image=found.attrs["Config"]["Image"],
                         running=bool(state.get("Running")),
                         labels=dict(found.attrs["Config"].get("Labels") or {}),
                         status=str(state.get("Status", "")),
                         exit_code=state.get("ExitCode"))

    def state(self) -> HostState:
        """The service's current container and the kept previous one."""
        return HostState(self.find(self.dep.name),
                         self.find(self.dep.name + docker_swap.PREVIOUS_SUFFIX))

    def pull(self, image: str, login: Login | None) -> None:
        """Pull ``image`` (``host/repository@sha256:...``) with ``login`` sent in the request."""
        repository, _, digest = image.rpartition("@")
        auth = ({"username": login.username, "password": login.password}
                if login is not None and login.username else None)
        stream = self._call(f"pulling {image}", self.client.api.pull, repository, tag=digest,
                            auth_config=auth, stream=True, decode=True)
        try:
            for event in stream:
                if "error" in event:
                    raise ReleaseError(f"{self.shown}: pulling {image} failed: "
                                       f"{names.printable(str(event['error']))[:600]}",
                                       "check that the host reaches the registry")
        except _errors() as exc:
            raise ReleaseError(f"{self.shown}: pulling {image} failed: "
                               f"{names.printable(str(exc))[:600]}") from None

    def now(self) -> float:
        """The engine's clock (the lock's age is measured on it)."""
        return engine_time(self._call("reading the engine's time", self.client.info)
                           ["SystemTime"])

    @contextmanager
    def locked(self, image: str, owner: str, log: Any) -> Iterator[None]:
        """Hold the host's release lock for this service while the block runs."""
        lock = self._take_lock(image, owner, log)
        try:
            yield
        finally:
            with suppress(*_errors()):
                lock.remove(force=True)

    def _take_lock(self, image: str, owner: str, log: Any) -> Any:
        from docker.errors import APIError

        name = self.dep.name + docker_swap.LOCK_SUFFIX
        for _ in range(2):
            try:
                return self.client.containers.create(
                    image, command=["release-lock"], name=name, network_mode="none",
                    labels={LOCK_OWNER_LABEL: owner})
            except APIError as exc:
                if exc.status_code != 409:
                    raise ReleaseError(f"{self.shown}: taking the release lock failed: "
                                       f"{names.printable(str(exc))[:600]}") from None
            held = self.client.containers.get(name)
            created = engine_time(held.attrs["Created"])
            if not docker_swap.lock_is_stale(created, self.now()):
                raise ReleaseError(
                    f"{self.shown}: another release of {self.dep.name} holds the host's lock "
                    f"(container {name}, taken by "
                    f"{names.printable(held.labels.get(LOCK_OWNER_LABEL, '?'))}, "
                    f"{int(self.now() - created)} s ago); nothing was changed",
                    "wait for that release to finish and run again; a lock left by a killed "
                    f"release expires after {docker_swap.STALE_LOCK_SECONDS} s, or remove it "
                    f"on the host: docker rm {name}")
            log(f"{self.dep.name}: removing a stale release lock ({int(self.now() - created)}"
                " s old) on the host")
            with suppress(*_errors()):
                held.remove(force=True)
        raise ReleaseError(f"{self.shown}: could not take the release lock {name}",
                           "run the release again")

    def create(self, name: str, image: str, labels: Mapping[str, str]) -> str:
        """Create (not start) the service's container ``name`` from ``image``; its id."""
        from docker.types import Mount

        dep = self.dep
        spec = docker_swap.run_spec(dep, image)
        env = {**dep.environment,
               **{f"{key}_FILE": f"{SECRETS_DIR}/{key}" for key in dep.secrets}}
        mounts = [Mount(f"{SECRETS_DIR}/{key}", path, type="bind", read_only=True)
                  for key, path in dep.secrets.items()]
        network = ({"network_mode": dep.network} if dep.network in {"host", "none"} else
                   {"network": dep.network} if dep.network else {})
        made = self._call(f"creating container {name}", self.client.containers.create,
                          image, name=name, environment=env, mounts=mounts,
                          ports=_ports(dep.ports), restart_policy={"Name": "unless-stopped"},
                          labels={**labels, SPEC_JSON_LABEL: json.dumps(spec, sort_keys=True)},
                          **network)
        return str(made.id)

    def start(self, ident: str) -> None:
        """Start a container."""
        self._call("starting a container", lambda: self.client.containers.get(ident).start())

    def stop(self, ident: str) -> None:
        """Stop a container (SIGTERM, then SIGKILL after STOP_SECONDS)."""
        self._call("stopping a container",
                   lambda: self.client.containers.get(ident).stop(timeout=STOP_SECONDS))

    def rename(self, ident: str, name: str) -> None:
        """Rename a container."""
        self._call(f"renaming a container to {name}",
                   lambda: self.client.containers.get(ident).rename(name))

    def remove(self, ident: str) -> None:
        """Remove a container (stopped first when it runs)."""
        self._call("removing a container",
                   lambda: self.client.containers.get(ident).remove(force=True))

    def running(self, ident: str) -> bool:
        """True while the container runs."""
        found = self._call("reading a container", self.client.containers.get, ident)
        return bool(found.attrs.get("State", {}).get("Running"))

    def probe(self, ident: str) -> bool:
        """One health probe inside the container: True when the URL answered 2xx."""
        health = self.dep.health
        assert health is not None  # noqa: S101 - callers probe only with a health check
        found = self._call("reading a container", self.client.containers.get, ident)
        try:
            code, _ = found.exec_run(docker_swap.probe_command(health.port, health.path))
        except _errors():
            return False  # not running any more: the caller sees that next
        return bool(code == 0)

    def logs(self, ident: str) -> str:
        """The container's last log lines (stdout and stderr), escaped for a log."""
        try:
            raw = self.client.containers.get(ident).logs(tail=docker_swap.LOG_LINES)
        except _errors() as exc:
            return f"(its logs could not be read: {names.printable(str(exc))[:200]})"
        lines = raw.decode("utf-8", "replace").splitlines()
        return "\n".join(names.printable(line)[:300] for line in lines) or "(no output)"


def _ports(ports: tuple[str, ...]) -> dict[str, Any]:
    """``["IP:6000:80/tcp"]`` as the SDK's ``{"80/tcp": ("IP", 6000)}``."""
    out: dict[str, Any] = {}
    for entry in ports:
        spec, _, proto = entry.partition("/")
        parts = spec.split(":")
        container = f"{parts[-1]}/{proto or 'tcp'}"
        out[container] = (parts[0], int(parts[1])) if len(parts) == 3 else int(parts[0])
    return out
