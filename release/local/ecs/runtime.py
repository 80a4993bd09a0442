"""``DockerRuntime``: the control plane's tasks as real containers on the local Docker engine.

It talks to the engine through the ``docker`` SDK's low-level ``APIClient`` (one per thread),
not the ``docker`` CLI: a poll is a few HTTP requests on the engine's socket rather than a Go
process forked per task every half second, registry credentials go with each pull
(``X-Registry-Auth``) instead of a ``docker login`` written to a config file that threads
would share, and answers come back as data rather than text to parse.

``start`` returns at once; a worker thread resolves secrets, pulls, creates the task's
sandbox (it owns the network namespace: loopback only) and starts the containers in it, in
``dependsOn`` order (``startup``). ``poll`` inspects the task's containers; an essential
container that exits, a ``stop`` or a failure to start hands the task to a teardown thread
(DEPROVISIONING), which stops the containers dependents first (SIGKILL after stopTimeout),
keeps exit codes and last log lines, ships awslogs output, and removes them (STOPPED).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from release.local.ecs import containers as args
from release.local.ecs import startup
from release.local.ecs.launching import (
    AbortedError,
    RegistryAuth,
    Secret,
    StartFailedError,
    pull,
    remove,
    remove_plane_containers,
    resolve_secrets,
)
from release.local.ecs.model import (
    ContainerState,
    StopCode,
    TaskSpec,
    TaskState,
    TaskStatus,
    Timing,
)
from release.local.ecs.task_logs import LogShipper, PutLogs, last_lines

_log = logging.getLogger(__name__)
KEPT_LOG_LINES = 1000  # per container, kept after its removal for logs()
ESSENTIAL_EXITED = "Essential container in task exited"


@dataclass
class _Task:
    """What the runtime knows about one task (guarded by the runtime's lock)."""

    spec: TaskSpec
    created_at: float
    status: TaskStatus = "PROVISIONING"
    ids: dict[str, str] = field(default_factory=dict)  # container name -> docker id
    sandbox: str | None = None
    netns_pid: int | None = None
    running: bool = False  # every container was started: poll inspects them
    busy: bool = True  # a thread (start or teardown) owns the containers
    stopping: bool = False
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # container name -> reason
    seen: tuple[ContainerState, ...] = ()  # the containers at the last poll
    kept_logs: dict[str, list[str]] = field(default_factory=dict)
    given_up: dict[str, str] = field(default_factory=dict)  # never started: why (dependsOn)
    stopping_at: float | None = None


class DockerRuntime:
    """The ``Runtime`` Protocol on a Docker engine (see the module's docstring)."""

    def __init__(
        self,
        docker_host: str,
        *,
        secret: Secret,
        registry_auth: RegistryAuth,
        clock: Callable[[], float],
        timing: Timing,
        plane: str,
        put_logs: PutLogs | None = None,
        ship_seconds: float = 3.0,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host = docker_host
        self._secret = secret
        self._registry_auth = registry_auth
        self._clock = clock
        self._timing = timing
        self._plane = plane
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._clients: list[Any] = []
        self._closed = False
        self._wait = wait
        self._shipper = LogShipper(put_logs, self._api, ship_seconds) if put_logs else None
        if self._shipper:
            self._shipper.begin(self._running_containers)

    @property
    def plane(self) -> str:
        """The label value that marks this control plane's containers."""
        return self._plane

    # -- the Protocol -------------------------------------------------------------------

    def start(self, spec: TaskSpec) -> None:
        """Begin running the task in a worker thread; returns at once."""
        task = _Task(spec=spec, created_at=self._clock())
        with self._lock:
            if self._closed:
                raise RuntimeError("the runtime is closed")
            if spec.task_arn in self._tasks:
                raise ValueError(f"task {spec.task_arn} was started already")
            self._tasks[spec.task_arn] = task
        self._spawn(self._launch, task)

    def poll(self, task_arn: str) -> TaskState:
        """The task now: at most one inspect per container (none once it stopped)."""
        with self._lock:
            task = self._tasks[task_arn]
            ids, look = dict(task.ids), task.running and not task.stopping
        if look:
            seen = startup.inspect_all(self._api(), task.spec, ids)
            self._observe(task, seen)
        with self._lock:
            return self._state(task)

    def stop(self, task_arn: str, code: StopCode, reason: str) -> None:
        """Record why, and stop and remove the task's containers in the background."""
        with self._lock:
            task = self._tasks[task_arn]
        self._request_stop(task, code, reason)

    def logs(self, task_arn: str, container: str, lines: int) -> list[str]:
        """The container's last ``lines`` output lines (kept after the task stopped)."""
        with self._lock:
            task = self._tasks[task_arn]
            kept = task.kept_logs.get(container)
            runtime_id = task.ids.get(container)
        if kept is not None:
            return kept[-lines:] if lines > 0 else []
        if runtime_id is None or lines <= 0:
            return []
        import docker.errors

        try:
            return last_lines(self._api(), runtime_id, lines)
        except docker.errors.NotFound:
            return []

    def close(self) -> None:
        """Stop every task, wait for the threads, and remove any container left with this
        control plane's label."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tasks = list(self._tasks.values())
        for task in tasks:
            self._request_stop(task, "ServiceSchedulerInitiated", "Local control plane stopped")
        for thread in list(self._threads):
            thread.join(timeout=60)
        if self._shipper:
            self._shipper.end()
        remove_plane_containers(self._api(), self._plane)
        for client in list(self._clients):
            client.close()

    # -- starting ----------------------------------------------------------------------

    def _launch(self, task: _Task) -> None:
        try:
            secrets = resolve_secrets(task.spec, self._secret)
            self._advance(task, "PENDING")
            for definition in args.definitions(task.spec):
                pull(self._api(), str(definition["image"]), str(definition["name"]),
                     self._registry_auth)
            self._advance(task, "PENDING")
            self._create_all(task, secrets)
        except StartFailedError as failed:
            if failed.container:
                with self._lock:
                    task.reasons[failed.container] = failed.reason
            self._request_stop(task, "TaskFailedToStart", failed.reason)
        except startup.EssentialExitedError:
            self._request_stop(task, "EssentialContainerExited", ESSENTIAL_EXITED)
        except AbortedError:
            pass
        except Exception as exc:  # noqa: BLE001 -- the engine or a callable failed: say why
            reason = f"ResourceInitializationError: {type(exc).__name__}: {exc}"
            self._request_stop(task, "TaskFailedToStart", reason)
        finally:
            self._release(task)

    def _advance(self, task: _Task, status: TaskStatus) -> None:
        with self._lock:
            if task.stopping:
                raise AbortedError
            task.status = status

    def _create_all(self, task: _Task, secrets: Mapping[str, Mapping[str, str]]) -> None:
        api, spec = self._api(), task.spec
        startup.check(spec)
        sandbox = startup.make_sandbox(api, spec, self._plane,
                                       lambda made: self._created(task, None, made))
        with self._lock:
            task.netns_pid = args.inspected(api.inspect_container(sandbox)).pid
        run = startup.Startup(
            api=api, spec=spec, sandbox=sandbox, secrets=secrets, plane=self._plane,
            timing=self._timing, clock=self._clock,
            checkpoint=lambda: self._advance(task, "PENDING"),
            created=lambda name, runtime_id: self._created(task, name, runtime_id),
            observed=lambda seen: self._seen_starting(task, seen),
            wait=self._wait, host_cpus=startup.engine_cpus(api), given_up=task.given_up)
        try:
            startup.start_containers(run)
        finally:
            for note in run.notes:
                _log.warning("task %s: %s", args.task_id(spec.task_arn), note)
        with self._lock:
            task.running = True

    def _created(self, task: _Task, name: str | None, runtime_id: str) -> None:
        """Remember a container (None: the sandbox) as soon as it exists, for the teardown."""
        with self._lock:
            if name is None:
                task.sandbox = runtime_id
            else:
                task.ids[name] = runtime_id

    def _seen_starting(self, task: _Task, seen: tuple[ContainerState, ...]) -> None:
        with self._lock:
            if not task.stopping:
                task.seen = seen

    def _release(self, task: _Task) -> None:
        """The start thread is done: tear down now if a stop came meanwhile."""
        with self._lock:
            task.busy = task.stopping
        if task.stopping:
            self._teardown(task)

    # -- observing ---------------------------------------------------------------------

    def _observe(self, task: _Task, seen: tuple[ContainerState, ...]) -> None:
        defs = args.definitions(task.spec)
        with self._lock:
            if task.stopping:
                return
            task.seen = seen
            if args.all_essential_running(defs, seen) and task.status != "RUNNING":
                task.status, task.started_at = "RUNNING", self._clock()
        if args.essential_exited(defs, seen):
            self._request_stop(task, "EssentialContainerExited", ESSENTIAL_EXITED)

    def _state(self, task: _Task) -> TaskState:
        """The task as DescribeTasks shows it (the caller holds the lock)."""
        defs = args.definitions(task.spec)
        seen = task.seen or tuple(args.container_state(d, task.ids.get(str(d["name"])), None)
                                  for d in defs)
        seen = tuple(_given_up(c, task.given_up.get(c.name)) for c in seen)
        seen = tuple(replace(c, reason=c.reason or task.reasons.get(c.name)) for c in seen)
        stopped = task.status == "STOPPED"
        return TaskState(
            spec=task.spec, last_status=task.status,
            desired_status="STOPPED" if task.stopping else "RUNNING",
            health_status="UNKNOWN" if stopped else args.task_health(defs, seen),
            containers=seen, created_at=task.created_at, started_at=task.started_at,
            stopping_at=task.stopping_at, stopped_at=task.stopped_at, stop_code=task.stop_code,
            stopped_reason=task.stopped_reason,
            netns_pid=None if stopped else task.netns_pid,
        )

    def _running_containers(self) -> list[tuple[str, Mapping[str, Any], str]]:
        """``(task arn, definition, docker id)`` of every started container (for awslogs)."""
        with self._lock:
            tasks = [t for t in self._tasks.values() if t.running and not t.stopping]
            return [(t.spec.task_arn, d, t.ids[str(d["name"])]) for t in tasks
                    for d in args.definitions(t.spec) if str(d["name"]) in t.ids]

    # -- stopping ----------------------------------------------------------------------

    def _request_stop(self, task: _Task, code: StopCode, reason: str) -> None:
        with self._lock:
            if task.stopping:
                return
            task.stopping, task.stop_code, task.stopped_reason = True, code, reason
            task.stopping_at = self._clock()
            if task.running or not task.busy:
                task.status = "DEPROVISIONING"
            if task.busy:
                return  # the start thread tears down when it finishes
            task.busy = True
        self._spawn(self._teardown, task)

    def _teardown(self, task: _Task) -> None:
        with self._lock:
            ids, sandbox = dict(task.ids), task.sandbox
            task.status = "DEPROVISIONING"
        final, kept = task.seen, dict[str, list[str]]()
        try:
            final, kept = self._dismantle(task, ids, sandbox)
        finally:
            with self._lock:
                task.seen = tuple(replace(c, last_status="STOPPED") for c in final)
                task.kept_logs = kept
                task.status, task.stopped_at, task.busy = "STOPPED", self._clock(), False

    def _dismantle(self, task: _Task, ids: Mapping[str, str], sandbox: str | None
                   ) -> tuple[tuple[ContainerState, ...], dict[str, list[str]]]:
        """Stop the containers (dependents first; SIGKILL after each one's stopTimeout), read
        their ends, remove them and the sandbox."""
        api = self._api()
        startup.stop_containers(api, task.spec, ids, self._timing)
        final = startup.inspect_all(self._api(), task.spec, ids)
        kept = self._keep_logs(task, ids)
        for runtime_id in [*ids.values(), *([sandbox] if sandbox else [])]:
            remove(api, runtime_id)
        return final, kept

    def _keep_logs(self, task: _Task, ids: Mapping[str, str]) -> dict[str, list[str]]:
        """Each container's last lines, kept for ``logs``; awslogs gets what it has not."""
        import docker.errors

        kept: dict[str, list[str]] = {}
        for definition in args.definitions(task.spec):
            runtime_id = ids.get(str(definition["name"]))
            if runtime_id is None:
                continue
            if self._shipper:
                self._shipper.ship(task.spec.task_arn, definition, runtime_id)
            try:
                kept[str(definition["name"])] = last_lines(self._api(), runtime_id,
                                                           KEPT_LOG_LINES)
            except docker.errors.NotFound:
                continue
        return kept

    # -- plumbing ----------------------------------------------------------------------

    def _api(self) -> Any:
        """This thread's ``docker.APIClient`` (a client is not shared between threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            import docker

            client = docker.APIClient(base_url=self._host, timeout=60)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _drop_client(self) -> None:
        """Close this thread's client (a task's thread is done with it)."""
        client = getattr(self._local, "client", None)
        if client is None:
            return
        self._local.client = None
        with self._lock:
            self._clients.remove(client)
        client.close()

    def _spawn(self, target: Callable[[_Task], None], task: _Task) -> None:
        def run() -> None:
            try:
                target(task)
            finally:
                self._drop_client()

        thread = threading.Thread(target=run, daemon=True,
                                  name=f"ecs-task-{args.task_id(task.spec.task_arn)}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()



def _given_up(container: ContainerState, why: str | None) -> ContainerState:
    """A container that will never start (a dependency cannot be met) shows STOPPED, and why."""
    if why is None or container.runtime_id is not None:
        return container
    return replace(container, last_status="STOPPED", reason=why)
