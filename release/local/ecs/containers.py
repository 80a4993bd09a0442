"""The pure half of the Docker runtime: a task definition's containers as Docker Engine API
arguments, and Docker's ``inspect`` answers as ECS container states. No I/O.

Every container joins the network namespace of the task's sandbox container
(``network_mode="container:<sandbox>"``, the sandbox itself ``"none"``), so a task has only
its own loopback: no port is ever published and the bridge is never used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from release.local.base_images import BUSYBOX_IMAGE
from release.local.ecs import container_options as options
from release.local.ecs.model import ContainerState, Health, TaskSpec, Timing

PLANE_LABEL = "dev.release.local.plane"
TASK_LABEL = "dev.release.local.task"
CONTAINER_LABEL = "dev.release.local.container"
SANDBOX = "~internal~ecs~pause"  # what ECS calls the container owning the task's network
SANDBOX_IMAGE = BUSYBOX_IMAGE
NANOSECONDS = 1_000_000_000
# ECS's healthCheck defaults (seconds, retries), before Timing.health_scale
ECS_HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"  # ECS's reason


@dataclass(frozen=True)
class Inspected:
    """What one ``docker inspect`` says about a container that matters to ECS."""

    status: str  # created, running, paused, restarting, removing, exited, dead
    health: str | None  # starting, healthy, unhealthy; None without a health check
    exit_code: int | None
    pid: int | None
    error: str = ""
    oom_killed: bool = False  # the kernel's OOM killer ended it (State.OOMKilled)


def task_id(task_arn: str) -> str:
    """The task's id: the last part of its ARN."""
    return task_arn.rsplit("/", 1)[-1]


def docker_name(spec: TaskSpec, container: str) -> str:
    """A valid, unique Docker container name for ``container`` of the task."""
    family = str(spec.task_definition.get("family", "task"))
    raw = f"ecs-{family}-{container}-{task_id(spec.task_arn)}"
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", raw)


def labels(spec: TaskSpec, plane: str, container: str) -> dict[str, str]:
    """The labels every container of the task carries (``close`` and cleanups find them)."""
    return {
        PLANE_LABEL: plane,
        TASK_LABEL: spec.task_arn,
        CONTAINER_LABEL: container,
        "com.amazonaws.ecs.cluster": spec.cluster,
        "com.amazonaws.ecs.task-arn": spec.task_arn,
        "com.amazonaws.ecs.container-name": container,
        "com.amazonaws.ecs.task-definition-family": str(spec.task_definition.get("family", "")),
    }


def definitions(spec: TaskSpec) -> list[Mapping[str, Any]]:
    """The task definition's container definitions."""
    return list(spec.task_definition.get("containerDefinitions") or [])


def is_essential(definition: Mapping[str, Any]) -> bool:
    """ECS's ``essential``: true unless the definition says false."""
    return definition.get("essential", True) is not False


def registry_host(image: str) -> str | None:
    """The registry part of an image reference (None: Docker Hub's, written without one)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _seconds(value: float, timing: Timing) -> float:
    return max(value * timing.health_scale, timing.min_health_interval)


def health_check(check: Mapping[str, Any] | None, timing: Timing) -> dict[str, Any] | None:
    """ECS's ``healthCheck`` as Docker's (``--health-cmd`` and friends), in nanoseconds.

    ``CMD-SHELL x`` stays a shell string, ``CMD a b`` the exec form; interval, timeout and
    start period are scaled by ``timing.health_scale``, none below
    ``timing.min_health_interval``, and the timeout never above the interval.
    """
    if not check or not check.get("command"):
        return None
    command = [str(part) for part in check["command"]]
    if command[0] not in ("CMD", "CMD-SHELL"):  # ECS takes a bare command as CMD-SHELL
        command = ["CMD-SHELL", " ".join(command)]
    elif command[0] == "CMD-SHELL":
        command = ["CMD-SHELL", " ".join(command[1:])]
    value = {**ECS_HEALTH_DEFAULTS, **{k: v for k, v in check.items() if v is not None}}
    interval = _seconds(float(value["interval"]), timing)
    timeout = min(_seconds(float(value["timeout"]), timing), interval)
    start = float(value["startPeriod"])
    start_period = _seconds(start, timing) if start > 0 else 0.0
    return {
        "test": command,
        "interval": int(interval * NANOSECONDS),
        "timeout": int(timeout * NANOSECONDS),
        "retries": int(value["retries"]),
        "start_period": int(start_period * NANOSECONDS),
    }


def environment(definition: Mapping[str, Any], secrets: Mapping[str, str]) -> list[str]:
    """``NAME=value`` lines: the definition's ``environment``, then its resolved secrets."""
    values = {str(item["name"]): str(item.get("value", ""))
              for item in definition.get("environment") or []}
    values.update(secrets)
    return [f"{name}={value}" for name, value in values.items()]


def secret_sources(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(environment name, valueFrom)`` of the definition's ``secrets``."""
    return [(str(item["name"]), str(item["valueFrom"])) for item in definition.get("secrets") or []]


def missing_secret_reason(value_from: str) -> str:
    """ECS's stoppedReason when a secret the task names does not exist."""
    prefix = ("ResourceInitializationError: unable to pull secrets or registry auth: "
              "execution resource retrieval failed: ")
    if ":secretsmanager:" in value_from:
        return (f"{prefix}unable to retrieve secret from asm: "
                f"ResourceNotFoundException: secret {value_from} does not exist")
    return (f"{prefix}unable to retrieve secrets from ssm: "
            f"invalid ssm parameters: parameter {value_from} does not exist")


def sandbox_args(spec: TaskSpec, plane: str) -> dict[str, Any]:
    """``create_container`` keyword arguments for the task's sandbox: it owns the network
    namespace (loopback only) and just waits; it is removed by force."""
    return {
        "image": SANDBOX_IMAGE,
        "command": ["sleep", "999999999"],
        "name": docker_name(spec, "internalecspause"),
        "labels": labels(spec, plane, SANDBOX),
        "host_config": {"network_mode": "none"},
    }


def container_args(
    spec: TaskSpec,
    definition: Mapping[str, Any],
    *,
    secrets: Mapping[str, str],
    sandbox_id: str,
    plane: str,
    timing: Timing,
    host_cpus: int | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """``create_container`` keyword arguments for one container definition; ``host_config``
    holds ``create_host_config``'s (network ``container:<sandbox>``, never a port; cpu and
    memory limits, Linux options: see ``container_options``). A limit lowered to the
    engine's ``host_cpus`` is said in ``notes``; a value ECS refuses raises
    ``container_options.ResourceError``."""
    name = str(definition["name"])
    limits, lowered = options.resources(spec.task_definition, definition, host_cpus)
    if notes is not None:
        notes.extend(lowered)
    args: dict[str, Any] = {
        "image": str(definition["image"]),
        "name": docker_name(spec, name),
        "labels": {**options.docker_labels(definition), **labels(spec, plane, name)},
        "environment": environment(definition, secrets),
        "host_config": {"network_mode": f"container:{sandbox_id}", **limits,
                        **options.host_options(definition)},
        **options.create_options(definition, timing),
    }
    optional = {"command": "command", "entryPoint": "entrypoint",
                "workingDirectory": "working_dir", "user": "user"}
    for ecs_key, docker_key in optional.items():
        if definition.get(ecs_key):
            args[docker_key] = definition[ecs_key]
    check = health_check(definition.get("healthCheck"), timing)
    if check is not None:
        args["healthcheck"] = check
    return args


def inspected(answer: Mapping[str, Any]) -> Inspected:
    """The parts of a ``docker inspect`` answer that matter here."""
    state = answer.get("State") or {}
    health = state.get("Health") or {}
    status = str(state.get("Status", "dead"))
    return Inspected(
        status=status,
        health=str(health["Status"]) if health.get("Status") else None,
        exit_code=int(state["ExitCode"]) if status in ("exited", "dead") else None,
        pid=int(state["Pid"]) if state.get("Pid") else None,
        error=str(state.get("Error") or ""),
        oom_killed=state.get("OOMKilled") is True,
    )


def container_state(definition: Mapping[str, Any], runtime_id: str | None,
                    seen: Inspected | None) -> ContainerState:
    """One container as DescribeTasks reports it, from what Docker says (None: not made yet)."""
    name, image = str(definition["name"]), str(definition["image"])
    if seen is None:
        return ContainerState(name=name, image=image, last_status="PENDING",
                              runtime_id=runtime_id)
    health: Health = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get(  # type: ignore[assignment]
        seen.health or "", "UNKNOWN")
    if seen.status in ("exited", "dead"):
        reason = OUT_OF_MEMORY if seen.oom_killed else seen.error or None
        return ContainerState(name=name, image=image, last_status="STOPPED", health_status=health,
                              exit_code=seen.exit_code, reason=reason, runtime_id=runtime_id)
    status = "RUNNING" if seen.status in ("running", "paused", "restarting") else "PENDING"
    return ContainerState(name=name, image=image, last_status=status,  # type: ignore[arg-type]
                          health_status=health, runtime_id=runtime_id)


def task_health(defs: Sequence[Mapping[str, Any]], states: Sequence[ContainerState]) -> Health:
    """The task's health from its essential containers that have a health check."""
    checked = [state.health_status for definition, state in zip(defs, states, strict=True)
               if is_essential(definition) and definition.get("healthCheck")]
    if not checked:
        return "UNKNOWN"
    if "UNHEALTHY" in checked:
        return "UNHEALTHY"
    return "HEALTHY" if all(h == "HEALTHY" for h in checked) else "UNKNOWN"


def essential_exited(defs: Sequence[Mapping[str, Any]], states: Sequence[ContainerState]) -> bool:
    """True when an essential container has stopped (ECS then stops the task)."""
    return any(is_essential(definition) and state.last_status == "STOPPED"
               for definition, state in zip(defs, states, strict=True))


def all_essential_running(defs: Sequence[Mapping[str, Any]],
                          states: Sequence[ContainerState]) -> bool:
    """True when every essential container runs (the task is RUNNING)."""
    return all(state.last_status == "RUNNING"
               for definition, state in zip(defs, states, strict=True)
               if is_essential(definition))


def awslogs_stream(definition: Mapping[str, Any], task_arn: str) -> tuple[str, str] | None:
    """``(group, stream)`` for a container logging with ``awslogs`` (None: another driver).

    The stream is ``<prefix>/<container>/<task id>``, as ECS names it.
    """
    config = definition.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if not group:
        return None
    parts = [options.get("awslogs-stream-prefix"), definition["name"], task_id(task_arn)]
    return str(group), "/".join(str(part) for part in parts if part)
