"""Starting a task's containers in ``dependsOn`` order, and stopping them the other way round.

``start_containers`` runs on the task's start thread once its sandbox is up: it inspects the
containers it started, asks ``ordering.step`` which may start now, creates and starts them,
and waits between rounds. A container whose dependency can never be met is given up: an
essential one fails the task (``StartFailedError``), a non-essential one is only reported.
An essential container that exits meanwhile stops the task as ECS does
(``EssentialExitedError``). ``stop_containers`` stops them a layer at a time, dependents
first, each with its own ``stopTimeout`` between SIGTERM and SIGKILL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from release.local.ecs import container_options, ordering
from release.local.ecs import containers as args
from release.local.ecs.launching import StartFailedError, create
from release.local.ecs.model import ContainerState, TaskSpec, Timing

WAIT_SECONDS = 0.2  # between rounds while a container waits on a dependency
KILL_WAIT_SECONDS = 30  # how long a SIGKILLed container may take to be reaped


class EssentialExitedError(Exception):
    """An essential container exited before every container had started."""


@dataclass
class Startup:
    """What starting one task's containers needs from the runtime (its engine client, clock
    and timing) and tells it back (``created``: a container's Docker id; ``observed``: the
    containers as last inspected; ``checkpoint`` raises ``AbortedError`` once a stop came)."""

    api: Any
    spec: TaskSpec
    sandbox: str
    secrets: Mapping[str, Mapping[str, str]]
    plane: str
    timing: Timing
    clock: Callable[[], float]
    checkpoint: Callable[[], None]
    created: Callable[[str, str], None]
    observed: Callable[[tuple[ContainerState, ...]], None]
    wait: Callable[[float], None]
    host_cpus: int | None = None
    notes: list[str] = field(default_factory=list)  # limits lowered to the engine's
    given_up: dict[str, str] = field(default_factory=dict)  # container -> why it never ran


def check(spec: TaskSpec) -> None:
    """Refuse, as ECS's RegisterTaskDefinition would, a task whose dependsOn cannot be
    followed or whose cpu and memory do not add up (``StartFailedError``)."""
    defs = args.definitions(spec)
    try:
        ordering.check(defs)
        container_options.check_task(spec.task_definition, defs)
    except (ordering.OrderingError, container_options.ResourceError) as exc:
        raise StartFailedError(f"ClientException: {exc}") from None


def make_sandbox(api: Any, spec: TaskSpec, plane: str, made: Callable[[str], None]) -> str:
    """Create and start the task's sandbox (it owns the network namespace); its id, given to
    ``made`` as soon as it exists so a teardown removes it."""
    import docker.errors

    try:
        sandbox = create(api, args.sandbox_args(spec, plane))
        made(sandbox)
        api.start(sandbox)
    except docker.errors.APIError as exc:
        raise StartFailedError(f"ResourceInitializationError: {exc.explanation or exc}"
                               ) from None
    return sandbox


def engine_cpus(api: Any) -> int | None:
    """The engine's CPUs: the most a task's cpu limit can be here (None: not said)."""
    return int(api.info().get("NCPU") or 0) or None


def start_containers(run: Startup) -> None:
    """Create and start every container when its dependencies allow (see the module)."""
    defs = args.definitions(run.spec)
    essential = {str(d["name"]) for d in defs if args.is_essential(d)}
    ids: dict[str, str] = {}
    started: dict[str, float] = {}
    began = run.clock()
    while True:
        run.checkpoint()
        seen = inspect_all(run.api, run.spec, ids)
        run.observed(seen)
        if args.essential_exited(defs, seen):
            raise EssentialExitedError
        decided = ordering.step(defs, ordering.Round({c.name: c for c in seen}, started,
                                                     run.given_up, run.clock(), run.timing))
        for name, reason in decided.failed.items():
            if name in essential:
                raise StartFailedError(reason, name)
            run.given_up[name] = reason
        for name in decided.start:
            ids[name] = _start_one(run, next(d for d in defs if d["name"] == name))
            started[name] = run.clock()
        if decided.done:
            return
        if not decided.start:
            _bound(run, began, [str(d["name"]) for d in defs
                                if d["name"] not in started and d["name"] not in run.given_up])
            run.wait(WAIT_SECONDS)


def _bound(run: Startup, began: float, waiting: list[str]) -> None:
    """Fail the task once containers have waited on their dependencies longer than the
    plane lets a task take to start (a dependency without startTimeout waits this long)."""
    waited = run.clock() - began
    if waited > run.timing.task_start_timeout:
        raise StartFailedError(f"dependency graph: containers {', '.join(waiting)} still "
                               f"wait on their dependsOn after {waited:.0f} s", waiting[0])


def _start_one(run: Startup, definition: Mapping[str, Any]) -> str:
    """Create and start one container; its Docker id."""
    import docker.errors

    name = str(definition["name"])
    try:
        kwargs = args.container_args(run.spec, definition, secrets=run.secrets.get(name, {}),
                                     sandbox_id=run.sandbox, plane=run.plane,
                                     timing=run.timing, host_cpus=run.host_cpus,
                                     notes=run.notes)
    except (container_options.ResourceError, KeyError, TypeError, ValueError) as exc:
        raise StartFailedError(f"ClientException: {exc}", name) from None
    try:
        runtime_id = create(run.api, kwargs)
        run.created(name, runtime_id)
        run.api.start(runtime_id)
    except docker.errors.APIError as exc:
        raise StartFailedError(f"CannotStartContainerError: {exc.explanation or exc}",
                               name) from None
    return runtime_id


def inspect_all(api: Any, spec: TaskSpec, ids: Mapping[str, str]
                ) -> tuple[ContainerState, ...]:
    """Every container of the task as DescribeTasks shows it (one inspect per started one)."""
    import docker.errors

    states = []
    for definition in args.definitions(spec):
        runtime_id = ids.get(str(definition["name"]))
        seen = None
        if runtime_id is not None:
            try:
                seen = args.inspected(api.inspect_container(runtime_id))
            except docker.errors.NotFound:
                seen = args.Inspected("dead", None, None, None, "container removed")
        states.append(args.container_state(definition, runtime_id, seen))
    return tuple(states)


def stop_containers(api: Any, spec: TaskSpec, ids: Mapping[str, str], timing: Timing) -> None:
    """Stop the task's containers a layer at a time, dependents before what they depend on.
    The containers of a layer stop together, as ``docker stop`` stops one: their stop signal
    (SIGTERM unless the image says another), then SIGKILL once their own ``stopTimeout``
    (scaled by ``timing``) has passed."""
    defs = {str(d["name"]): d for d in args.definitions(spec)}
    try:
        layers = ordering.stop_layers(list(defs.values()))
    except ordering.OrderingError:  # a task that never started: any order will do
        layers = [list(defs)]
    for layer in layers:
        _stop_together(api, [(ids[name], ordering.stop_seconds(defs[name], timing))
                             for name in layer if name in ids])


def _stop_together(api: Any, containers: list[tuple[str, int]]) -> None:
    """Signal every running container of ``containers`` (docker id, seconds), then wait for
    each until its deadline, and SIGKILL those still running."""
    import docker.errors

    signalled: list[tuple[str, float]] = []
    for runtime_id, seconds in containers:
        try:
            answer = api.inspect_container(runtime_id)
            if (answer.get("State") or {}).get("Status") != "running":
                continue
            stop_signal = (answer.get("Config") or {}).get("StopSignal") or "SIGTERM"
            api.kill(runtime_id, signal=stop_signal)
        except docker.errors.APIError:  # gone, or no longer running (409)
            continue
        signalled.append((runtime_id, time.monotonic() + seconds))
    for runtime_id, deadline in signalled:
        if not _exited_by(api, runtime_id, deadline - time.monotonic()):
            _kill(api, runtime_id)


def _exited_by(api: Any, runtime_id: str, seconds: float) -> bool:
    """True when the container stopped within ``seconds`` (or is gone)."""
    import docker.errors
    import requests

    try:
        api.wait(runtime_id, timeout=max(seconds, 0.05))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        return False
    except docker.errors.APIError:
        return True
    return True


def _kill(api: Any, runtime_id: str) -> None:
    """SIGKILL the container and wait until it is gone from the running ones."""
    import docker.errors

    try:
        api.kill(runtime_id)
        api.wait(runtime_id, timeout=KILL_WAIT_SECONDS)
    except docker.errors.APIError:  # it exited meanwhile, or was removed
        return
