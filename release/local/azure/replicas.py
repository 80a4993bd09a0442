"""A revision's replicas as real containers, through the ECS control plane's runtime.

Each replica is one ``TaskSpec`` started by ``release.local.ecs.runtime.DockerRuntime``
(its own loopback-only network namespace; pulls with the registry's credentials), and its
probes run from this process: an HTTP GET (or a plain answer, for TCP probes) through a
``release.local.ecs.listener.ServiceListener`` into the replica's namespace. ``step`` moves
the revision's states as Azure reports them; the app's ingress listener then sends
requests to the ready replicas of the revisions that get traffic.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from release.local.azure import probes as checks
from release.local.azure.apps import App, Revision, replicas
from release.local.ecs.model import Runtime, TaskSpec, TaskState

DEADLINE = 120.0  # seconds: a revision not ready by then failed (Azure's progress deadline)
SECRET_SCHEME = "containerapp-secret:"  # noqa: S105 - valueFrom of a secretRef: <scheme><app id>#<name>


class Prober(Protocol):
    """Runs one probe into the network namespace of ``pid``; None when it passed, else why."""

    def __call__(self, pid: int, probe: checks.Probe) -> str | None: ...

    def forget(self, pid: int) -> None:
        """The replica is gone: drop what was kept for it."""


@dataclass
class Replica:
    """One replica: its task and what its probes saw."""

    task_arn: str
    started_at: float
    probes: list[checks.Probe]
    tallies: list[checks.Tally]
    ready_once: bool = False
    pid: int | None = None


@dataclass
class Runner:
    """Starts, watches and stops revisions' replicas."""

    runtime: Runtime
    prober: Prober
    clock: Callable[[], float]
    scale: float = 0.1
    _replicas: dict[str, list[Replica]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, app: App, revision: Revision) -> None:
        """Start the revision's replicas (returns at once; pulling happens behind)."""
        made = []
        count = replicas(revision.template)
        for index in range(count):
            spec = task_spec(app, revision, index)
            self.runtime.start(spec)
            main = (revision.template.get("containers") or [{}])[0]
            found = checks.probes_of(main, app.target_port, scale=self.scale)
            made.append(Replica(spec.task_arn, self.clock(), found,
                                [checks.Tally() for _ in found]))
        with self._lock:
            self._replicas[revision.name] = made
        revision.replicas = count

    def stop(self, revision: Revision, why: str) -> None:
        """Stop the revision's replicas (deactivated or failed)."""
        with self._lock:
            gone = self._replicas.pop(revision.name, [])
        for replica in gone:
            if replica.pid is not None:
                self.prober.forget(replica.pid)
            self.runtime.stop(replica.task_arn, "UserInitiated", why)
        revision.replicas = 0

    def step(self, revision: Revision) -> list[int]:
        """Poll the replicas, run the probes that are due, update ``revision``'s states;
        return the network namespace PIDs of its ready replicas."""
        with self._lock:
            mine = list(self._replicas.get(revision.name, []))
        ready, failed, waiting = [], [], ""
        for replica in mine:
            state = self.runtime.poll(replica.task_arn)
            outcome, why = self._replica(replica, state)
            if outcome == "ready" and replica.pid is not None:
                ready.append(replica.pid)
            elif outcome == "failed":
                failed.append(why)
            elif why:
                waiting = why
        settle(revision, (len(mine), len(ready)), failed, waiting,
               self.clock() - min((r.started_at for r in mine), default=self.clock()))
        return ready

    def _replica(self, replica: Replica, state: TaskState) -> tuple[checks.Verdict, str]:
        if state.last_status == "STOPPED" or state.desired_status == "STOPPED":
            return "failed", stopped_reason(state)
        if state.last_status != "RUNNING" or state.netns_pid is None:
            return "pending", ""
        replica.pid = state.netns_pid
        now = self.clock()
        for index, probe in enumerate(replica.probes):
            if checks.due(probe, replica.tallies[index], replica.started_at, now):
                error = self.prober(state.netns_pid, probe)
                replica.tallies[index] = checks.record(replica.tallies[index], error, now)
        outcome, why = checks.verdict(replica.probes, replica.tallies)
        if outcome == "ready":
            replica.ready_once = True
        return outcome, why


def settle(revision: Revision, counts: tuple[int, int], failed: list[str], waiting: str,
           age: float) -> None:
    """The revision's provisioningState, runningState, healthState and reasons, from its
    (replicas, ready replicas), why replicas failed, and why one is not ready yet."""
    total, ready = counts
    if revision.provisioning == "Failed" or revision.running == "Failed" or not revision.active:
        return  # failed revisions are not retried; inactive ones are Deprovisioned
    if total and ready == total:
        revision.provisioning, revision.running, revision.health = \
            "Provisioned", "Running", "Healthy"
        revision.details = ""
        return
    if revision.running == "Running" and ready:
        revision.running, revision.health = "Degraded", "Unhealthy"
        revision.details = f"{ready}/{total} replicas ready. {failed[0] if failed else waiting}"
        return
    start_failed = [why for why in failed if why.startswith(
        ("CannotPull", "Resource", "CannotStart", "Unable to get value"))]
    if start_failed:
        revision.provisioning, revision.running, revision.health = "Failed", "Failed", "Unhealthy"
        revision.error = start_failed[0]
    elif failed or age > DEADLINE:
        revision.provisioning, revision.running, revision.health = \
            "Provisioned", "Failed", "Unhealthy"
        revision.details = (f"Deployment Progress Deadline Exceeded. {ready}/{total} replicas "
                            f"ready. {failed[0] if failed else waiting}").rstrip()


def stopped_reason(state: TaskState) -> str:
    """Why a replica's task stopped, as Azure words a container that ended."""
    for container in state.containers:
        if container.exit_code is not None:
            return (f"Container '{container.name}' was terminated with exit code "
                    f"'{container.exit_code}'")
    return state.stopped_reason or "the replica stopped"


def task_spec(app: App, revision: Revision, index: int) -> TaskSpec:
    """A replica as the runtime's task: the revision's containers as container definitions."""
    definitions = [container_definition(app, c) for c in revision.template.get("containers", [])]
    return TaskSpec(task_arn=f"arn:local:containerapps:{app.location}:{app.subscription}:"
                             f"replica/{revision.name}-{index}",
                    cluster=app.resource_group, service=app.name,
                    deployment_id=revision.name,
                    task_definition={"family": revision.name,
                                     "containerDefinitions": definitions})


def container_definition(app: App, container: Mapping[str, Any]) -> dict[str, Any]:
    """One Azure container as an ECS container definition: ``env`` values inline,
    ``secretRef`` ones resolved by the runtime, ``command``/``args`` as entry point/command."""
    env = container.get("env") or []
    definition: dict[str, Any] = {
        "name": str(container["name"]), "image": str(container["image"]), "essential": True,
        "environment": [{"name": e["name"], "value": str(e.get("value", ""))}
                        for e in env if "secretRef" not in e],
        "secrets": [{"name": e["name"], "valueFrom": f"{SECRET_SCHEME}{app.id}#{e['secretRef']}"}
                    for e in env if "secretRef" in e]}
    if container.get("command"):
        definition["entryPoint"] = list(container["command"])
    if container.get("args"):
        definition["command"] = list(container["args"])
    return definition


class ListenerProber:
    """Probes through a ``ServiceListener`` per (replica, port), kept while the replica runs:
    the listener reaches 127.0.0.1:<port> inside the replica's network namespace."""

    def __init__(self, listener: Callable[[int], Any]) -> None:
        self._make = listener  # container port -> a ServiceListener on a free host port
        self._open: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, pid: int, probe: checks.Probe) -> str | None:
        with self._lock:
            listener = self._open.get((pid, probe.port))
            if listener is None:
                listener = self._make(probe.port)
                listener.set_targets([pid])
                self._open[(pid, probe.port)] = listener
        return ask(listener.port, probe)

    def forget(self, pid: int) -> None:
        """Close the replica's listeners."""
        with self._lock:
            gone = [key for key in self._open if key[0] == pid]
            listeners = [self._open.pop(key) for key in gone]
        for listener in listeners:
            listener.close()

    def close(self) -> None:
        """Close every listener."""
        with self._lock:
            listeners, self._open = list(self._open.values()), {}
        for listener in listeners:
            listener.close()


def ask(port: int, probe: checks.Probe) -> str | None:
    """One probe against 127.0.0.1:``port``: HTTP GET (200-399 passes), or, for a TCP
    probe, any answer to a request."""
    where = f"http://127.0.0.1:{probe.port}{probe.path or '/'}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=probe.timeout)
    try:
        connection.request("GET", probe.path or "/", headers={"User-Agent": "kube-probe/1.29"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, socket.timeout | TimeoutError):
            return f'Get "{where}": context deadline exceeded'
        return f'Get "{where}": dial tcp 127.0.0.1:{probe.port}: connect: connection refused'
    finally:
        connection.close()
    if probe.path is None or 200 <= status < 400:
        return None
    return f"HTTP probe failed with statuscode: {status}"
