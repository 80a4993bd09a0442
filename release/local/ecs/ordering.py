"""Container ordering as the ECS agent does it: ``dependsOn`` (START, COMPLETE, SUCCESS,
HEALTHY) decides when each container of a task may start, ``startTimeout`` bounds the wait,
and shutdown goes the other way round. Pure decisions: the runtime inspects, asks ``step``
what to do now, and does it.

The conditions follow the agent's dependency graph (amazon-ecs-agent, dependencygraph):
START waits for the dependency to run, COMPLETE for it to exit, SUCCESS for it to exit 0,
HEALTHY for its Docker health check to pass. A SUCCESS dependency that exits non-zero, a
dependency that will never start, and a COMPLETE, SUCCESS or HEALTHY dependency still not
there ``startTimeout`` seconds after it started are terminal: the dependent container never
starts, with the agent's message as its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from release.local.ecs.model import ContainerState, Timing

CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
TIMED_CONDITIONS = ("COMPLETE", "SUCCESS", "HEALTHY")  # startTimeout bounds only these
DEFAULT_STOP_TIMEOUT = 30  # seconds: ECS_CONTAINER_STOP_TIMEOUT's default, and Fargate's
MAX_STOP_TIMEOUT = 120  # seconds: the most Fargate takes


class OrderingError(ValueError):
    """The task definition's dependsOn cannot be followed (an unknown container, a bad
    condition, a cycle): the task fails to start with this message."""


def dependencies(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(containerName, condition)`` of the definition's ``dependsOn``."""
    return [(str(item.get("containerName", "")), str(item.get("condition", "")))
            for item in definition.get("dependsOn") or []]


def check(defs: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``OrderingError`` unless every dependency names another container of the task
    with a known condition, and the dependencies have no cycle."""
    by_name = {str(d["name"]): d for d in defs}
    for definition in defs:
        _check_timeouts(definition)
        for name, condition in dependencies(definition):
            if name not in by_name or name == definition["name"]:
                raise OrderingError(f"container {definition['name']} depends on {name!r}, "
                                    "which is not another container of the task definition")
            if condition not in CONDITIONS:
                raise OrderingError(f"container {definition['name']} depends on {name} with "
                                    f"condition {condition!r}; ECS takes "
                                    f"{', '.join(CONDITIONS)}")
            _check_target(definition, by_name[name], condition)
    stop_layers(defs)  # raises on a cycle


def _check_timeouts(definition: Mapping[str, Any]) -> None:
    """stopTimeout within Fargate's 0..120 seconds; startTimeout a whole number, 0 or more."""
    for key, most in (("stopTimeout", MAX_STOP_TIMEOUT), ("startTimeout", None)):
        value = definition.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
                most is not None and value > most):
            limit = f"0 to {most}" if most is not None else "0 or more"
            raise OrderingError(f"container {definition['name']}'s {key} is {value!r}; give "
                                f"whole seconds, {limit}")


def _check_target(definition: Mapping[str, Any], target: Mapping[str, Any],
                  condition: str) -> None:
    """ECS's rules on the container depended on: COMPLETE and SUCCESS never on an essential
    one, HEALTHY only on one with a health check."""
    where = f"container {definition['name']} depends on {target['name']} with {condition}"
    if condition in ("COMPLETE", "SUCCESS") and target.get("essential", True) is not False:
        raise OrderingError(f"{where}, but {target['name']} is essential: ECS allows "
                            f"{condition} only on a container with essential: false")
    if condition == "HEALTHY" and not (target.get("healthCheck") or {}).get("command"):
        raise OrderingError(f"{where}, but {target['name']} has no healthCheck")


def stop_layers(defs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The containers in shutdown order, a layer at a time: a container stops only once every
    container depending on it has stopped (startup order, reversed)."""
    dependents: dict[str, set[str]] = {str(d["name"]): set() for d in defs}
    for definition in defs:
        for name, _ in dependencies(definition):
            if name in dependents:
                dependents[name].add(str(definition["name"]))
    layers, done = [], set[str]()
    while len(done) < len(dependents):
        layer = [name for name, waiting in dependents.items()
                 if name not in done and waiting <= done]
        if not layer:
            cycle = sorted(set(dependents) - done)
            raise OrderingError(f"the dependsOn of containers {', '.join(cycle)} form a cycle")
        layers.append(layer)
        done.update(layer)
    return layers


def stop_seconds(definition: Mapping[str, Any], timing: Timing) -> int:
    """How long ``docker stop`` waits between SIGTERM and SIGKILL: the definition's
    ``stopTimeout`` (ECS's default 30 s), scaled by ``timing``, in whole seconds, at least 1."""
    value = definition.get("stopTimeout")
    seconds = DEFAULT_STOP_TIMEOUT
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = min(value, MAX_STOP_TIMEOUT)
    return max(1, round(timing.container_seconds(seconds)))


@dataclass(frozen=True)
class Step:
    """What to do now: start ``start``; give up on ``failed`` (container -> reason, never to
    start); ``done`` once every container has started or been given up."""

    start: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    done: bool = False


@dataclass(frozen=True)
class Round:
    """Where a task's startup stands: ``seen``, its containers as last inspected (by name);
    ``started_at``, when each started one was started; ``given_up``, those that will never
    start (container -> why); ``now`` by the runtime's clock."""

    seen: Mapping[str, ContainerState]
    started_at: Mapping[str, float]
    given_up: Mapping[str, str]
    now: float
    timing: Timing


def step(defs: Sequence[Mapping[str, Any]], now: Round) -> Step:
    """The next step of a task's startup: who starts, who is given up, whether it is done."""
    start: list[str] = []
    failed: dict[str, str] = {}
    by_name = {str(d["name"]): d for d in defs}
    started_at, given_up = now.started_at, now.given_up
    for definition in defs:
        name = str(definition["name"])
        if name in started_at or name in given_up:
            continue
        verdict = _verdict(definition, by_name, now)
        if verdict is None:
            start.append(name)
        elif verdict:
            failed[name] = verdict
    waiting = {str(d["name"]) for d in defs} - set(started_at) - set(given_up)
    return Step(start=tuple(start), failed=failed, done=waiting <= set(start) | set(failed))


def _verdict(definition: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]],
             now: Round) -> str | None:
    """None: the container may start; "": not yet; otherwise why it never will."""
    blocked = False
    seen, started_at, given_up = now.seen, now.started_at, now.given_up
    for name, condition in dependencies(definition):
        target = f"for target [{definition['name']}]"
        if name in given_up:
            return (f"dependency graph: failed to resolve container ordering dependency "
                    f"[{name}] {target} because dependency will never start")
        state = seen.get(name)
        if name not in started_at or state is None:
            blocked = True
            continue
        stopped = state.last_status == "STOPPED"
        if condition == "SUCCESS" and stopped and state.exit_code != 0:
            return (f"dependency graph: failed to resolve container ordering dependency "
                    f"[{name}] {target} as dependency did not exit successfully.")
        if _resolved(condition, state):
            continue
        if not stopped and _timed_out(by_name[name], condition, started_at[name], now):
            return (f"dependency graph: container ordering dependency [{name}] {target} "
                    "has timed out.")
        blocked = True
    return "" if blocked else None


def _resolved(condition: str, state: ContainerState) -> bool:
    if condition == "START":
        return state.last_status in ("RUNNING", "STOPPED")
    if condition == "COMPLETE":
        return state.last_status == "STOPPED"
    if condition == "SUCCESS":
        return state.last_status == "STOPPED" and state.exit_code == 0
    return state.health_status == "HEALTHY"


def _timed_out(dependency: Mapping[str, Any], condition: str, started: float,
               now: Round) -> bool:
    """True when the dependency's ``startTimeout`` (scaled) has passed since it started."""
    value = dependency.get("startTimeout")
    if condition not in TIMED_CONDITIONS or isinstance(value, bool) or not isinstance(
            value, int) or value <= 0:
        return False
    return now.now - started > now.timing.container_seconds(float(value))
