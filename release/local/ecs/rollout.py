"""ECS's rolling update (deployment controller ECS) as pure logic: a service's deployments,
its tasks and its events, advanced by `step` from what the runtime observed, answering
DescribeServices' deployment pieces and the service deployment APIs. No I/O, no clock.

The records (model.ServiceRecord and model.DeploymentRecord) are mutable dataclasses: `create`
returns one, `update` and `step` change it in place (the plane holds one per service)."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

from release.local.ecs import deployment_config
from release.local.ecs.model import (
    Action,
    DeploymentConfig,
    DeploymentRecord,
    ServiceEventRecord,
    ServiceRecord,
    StartTask,
    StopCode,
    StopTask,
    TaskState,
    Timing,
)

__all__ = ["Action", "DeploymentConfig", "DeploymentRecord", "ServiceRecord", "StartTask",
           "StopTask", "arn", "create", "describe", "has_health_check", "is_healthy", "step",
           "update"]
MAX_EVENTS = 100
MAX_HISTORY = 50
HEALTH_REASON = "Task failed container health checks"
TIMEOUT_REASON = "Task did not reach RUNNING in time"
FAILED_REASON = "ECS deployment circuit breaker: tasks failed to start."


def has_health_check(task_definition: Mapping[str, Any]) -> bool:
    """Whether the task's health is known: an essential container defines a healthCheck."""
    return any(c.get("healthCheck") and c.get("essential", True)
               for c in task_definition.get("containerDefinitions", []))


def is_healthy(state: TaskState) -> bool:
    """RUNNING and HEALTHY, or UNKNOWN health when its definition has no healthCheck."""
    if state.last_status != "RUNNING" or state.desired_status != "RUNNING":
        return False
    if state.health_status == "HEALTHY":
        return True
    return state.health_status == "UNKNOWN" and not has_health_check(state.spec.task_definition)


def arn(record: ServiceRecord, kind: str, digits: str = "") -> str:
    """The ARN of the service's cluster, or of one of its ``service-deployment`` or
    ``service-revision`` resources."""
    head = record.arn.split(":service/")[0]
    if kind == "cluster":
        return f"{head}:cluster/{record.cluster}"
    return f"{head}:{kind}/{record.cluster}/{record.name}/{digits}"


def _event(record: ServiceRecord, now: float, message: str) -> None:
    record.events.insert(0, ServiceEventRecord(str(uuid.uuid4()), now, message))
    del record.events[MAX_EVENTS:]


def _new_deployment(record: ServiceRecord, task_definition: str, now: float,
                    rollback: DeploymentRecord | None = None,
                    target: DeploymentRecord | None = None) -> DeploymentRecord:
    digits = str(10**18 + secrets.randbelow(9 * 10**18))
    for old in record.deployments:
        old.status = "ACTIVE"
    deployment = DeploymentRecord(
        id=f"ecs-svc/{digits}", task_definition=task_definition, created_at=now, updated_at=now,
        arn=rollback.arn if rollback else arn(record, "service-deployment", digits),
        revision_arn=target.revision_arn if target else arn(record, "service-revision", digits),
        desired_count=record.desired_count, sources=tuple(d.id for d in record.deployments),
        rollback_of=rollback.id if rollback else None)
    deployment.rollout_state_reason = (
        f"ECS deployment circuit breaker: rolling back to deploymentId {target.id}."
        if target else f"ECS deployment {deployment.id} in progress.")
    record.deployments.insert(0, deployment)
    record.history.insert(0, deployment)
    del record.history[MAX_HISTORY:]
    record.steady = False
    return deployment


def create(cluster: str, name: str, arn: str, *, task_definition: str, desired_count: int,
           now: float, config: DeploymentConfig | None = None) -> ServiceRecord:
    """CreateService: the service with one PRIMARY deployment, rollout IN_PROGRESS."""
    record = ServiceRecord(cluster, name, arn, desired_count, config or DeploymentConfig())
    _new_deployment(record, task_definition, now)
    return record


def update(record: ServiceRecord, *, now: float, task_definition: str | None = None,
           desired_count: int | None = None, force_new_deployment: bool = False,
           config: DeploymentConfig | None = None) -> DeploymentRecord:
    """UpdateService: a new PRIMARY deployment when the task definition changes or on force
    (the old PRIMARY becomes ACTIVE); a desired-count-only change adjusts the PRIMARY.
    Returns the PRIMARY deployment."""
    if config is not None:
        record.config = config
    if desired_count is not None and desired_count != record.desired_count:
        record.desired_count = desired_count
        record.primary.desired_count = desired_count
        record.primary.updated_at = now
        record.steady = False
    changed = task_definition is not None and task_definition != record.primary.task_definition
    if changed or force_new_deployment:
        _new_deployment(record, task_definition or record.primary.task_definition, now)
    return record.primary


def _short(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def _live(record: ServiceRecord, deployment_id: str | None = None) -> list[str]:
    """Tasks pending or running that we have not asked to stop (of one deployment, or all)."""
    return [arn for arn, (dep, _) in record.tasks.items() if arn not in record.stopping
            and (deployment_id is None or dep == deployment_id)]


def _healthy(record: ServiceRecord, arns: list[str]) -> list[str]:
    return [arn for arn in arns if (s := record.tasks[arn][1]) is not None and is_healthy(s)]


def _stop(record: ServiceRecord, arns: list[str], code: StopCode, reason: str,
          actions: list[Action]) -> None:
    for arn in arns:
        record.stopping[arn] = reason
        actions.append(StopTask(arn, code, reason))
    record.steady = record.steady and not arns


def _deployment(record: ServiceRecord, deployment_id: str) -> DeploymentRecord | None:
    return next((d for d in record.deployments if d.id == deployment_id), None)


def _forget(record: ServiceRecord, arn: str, state: TaskState) -> None:
    """A task stopped: count a failure when it never became healthy in a rolling-out
    PRIMARY (and was not stopped by us for another reason)."""
    deployment = _deployment(record, record.tasks[arn][0])
    why = record.stopping.pop(arn, None)
    if (deployment is not None and deployment.status == "PRIMARY"
            and deployment.rollout_state == "IN_PROGRESS" and arn not in record.healthy_once
            and why in (None, HEALTH_REASON, TIMEOUT_REASON)):
        deployment.failed_tasks += 1
        deployment.updated_at = state.stopped_at or deployment.updated_at
    for store in (record.tasks, record.asked_at):
        store.pop(arn, None)
    record.healthy_once.discard(arn)
    record.steady = False


def _observe(record: ServiceRecord, observed: Mapping[str, TaskState], now: float,
             timing: Timing, actions: list[Action]) -> None:
    """Take in the runtime's states: forget stopped tasks, stop unhealthy and stuck ones."""
    for arn, (dep, _) in list(record.tasks.items()):
        state = observed.get(arn)
        if state is None:
            state = record.tasks[arn][1]
        else:
            record.tasks[arn] = (dep, state)
        if state is not None and state.last_status == "STOPPED":
            _forget(record, arn, state)
        elif arn in record.stopping:
            continue
        elif state is not None and state.last_status == "RUNNING" \
                and state.health_status == "UNHEALTHY":
            _event(record, now, f"(service {record.name}) (task {_short(arn)}) failed "
                   "container health checks.")
            _stop(record, [arn], "ServiceSchedulerInitiated", HEALTH_REASON, actions)
        elif state is not None and is_healthy(state):
            if arn not in record.healthy_once and (d := _deployment(record, dep)) is not None:
                d.failed_tasks = 0  # resetOnHealthyTask
            record.healthy_once.add(arn)
        elif (state is None or state.last_status != "RUNNING") \
                and now - record.asked_at.get(arn, now) > timing.task_start_timeout:
            _stop(record, [arn], "TaskFailedToStart", TIMEOUT_REASON, actions)


def _last_completed(record: ServiceRecord, failed: DeploymentRecord) -> DeploymentRecord | None:
    return next((d for d in record.history
                 if d is not failed and d.rollout_state == "COMPLETED"), None)


def _fail(record: ServiceRecord, now: float, actions: list[Action],
          alarms: tuple[str, ...] = ()) -> None:
    """The circuit breaker trips (or ``alarms`` went into ALARM): FAILED, and with rollback a
    new PRIMARY deploying the last COMPLETED deployment's task definition while the failed
    one's tasks are stopped."""
    failed = record.primary
    failed.alarms = alarms
    failed.rollout_state, failed.rollout_state_reason = "FAILED", (
        alarm_reason(alarms) if alarms else FAILED_REASON)
    failed.finished_at = failed.updated_at = now
    _event(record, now, f"(service {record.name}) deployment {failed.id} deployment failed: "
           + (f"alarm {', '.join(alarms)} in ALARM." if alarms else "tasks failed to start."))
    rollback = record.config.alarms_rollback if alarms else record.config.rollback
    target = _last_completed(record, failed) if rollback else None
    if target is None:
        return
    _new_deployment(record, target.task_definition, now, rollback=failed, target=target)
    failed.rolled_back_to, failed.rollback_started_at = target.revision_arn, now
    _event(record, now, f"(service {record.name}) rolling back to deployment {target.id}.")
    _stop(record, _live(record, failed.id), "ServiceSchedulerInitiated",
          "ECS deployment circuit breaker: rolling back", actions)


def alarm_reason(alarms: tuple[str, ...]) -> str:
    """Why a rolling deployment failed on its alarms."""
    return f"ECS deployment alarms: {', '.join(alarms)} went into ALARM."


def watched_alarms(record: ServiceRecord) -> tuple[str, ...]:
    """The alarms to read while the PRIMARY rolls out (deploymentConfiguration.alarms)."""
    primary = record.primary
    if not record.config.alarms_enabled or primary.rollout_state != "IN_PROGRESS" or (
            primary.rollback_of is not None):
        return ()
    return record.config.alarm_names


def _stop_old(record: ServiceRecord, actions: list[Action]) -> list[str]:
    """Stop tasks no longer wanted: the PRIMARY's beyond the desired count, other
    deployments' unhealthy ones, then their healthy ones while minimumHealthyPercent holds."""
    primary, desired = record.primary, record.desired_count
    mine = _live(record, primary.id)
    mine_healthy = set(_healthy(record, mine))
    extra = sorted(mine, key=lambda a: a in mine_healthy)[:max(0, len(mine) - desired)]
    old = [a for a in _live(record) if record.tasks[a][0] != primary.id]
    old_healthy = _healthy(record, old)
    floor = math.ceil(desired * record.config.minimum_healthy_percent / 100)
    spare = len(_healthy(record, _live(record))) - floor - len(mine_healthy.intersection(extra))
    chosen = extra + [a for a in old if a not in old_healthy] + old_healthy[:max(0, spare)]
    _stop(record, chosen, "ServiceSchedulerInitiated",
          f"Scaling activity initiated by (deployment {primary.id})", actions)
    return chosen


def _start(record: ServiceRecord, now: float, new_task_arn: Callable[[], str],
           actions: list[Action]) -> list[str]:
    """Start PRIMARY tasks up to the desired count within maximumPercent."""
    primary, desired = record.primary, record.desired_count
    ceiling = math.floor(desired * record.config.maximum_percent / 100)
    count = min(desired - len(_live(record, primary.id)), ceiling - len(_live(record)))
    started = [new_task_arn() for _ in range(max(0, count))]
    for arn in started:
        record.tasks[arn] = (primary.id, None)
        record.asked_at[arn] = now
        actions.append(StartTask(arn, primary.id, primary.task_definition))
    record.steady = record.steady and not started
    return started


def _count(record: ServiceRecord, now: float) -> None:
    """Refresh each deployment's pending and running counts."""
    for deployment in record.deployments:
        states = [record.tasks[a][1] for a in _live(record, deployment.id)]
        running = sum(1 for s in states if s is not None and s.last_status == "RUNNING")
        counts = (len(states) - running, running)
        if counts != (deployment.pending_count, deployment.running_count):
            deployment.pending_count, deployment.running_count = counts
            deployment.updated_at = now
        if deployment.status != "PRIMARY":
            deployment.desired_count = len(states)


def _settle(record: ServiceRecord, now: float) -> None:
    """COMPLETED once the PRIMARY runs desired_count healthy tasks and nothing else runs;
    then the other deployments go INACTIVE. A steady state is announced once reached."""
    primary = record.primary
    mine = _live(record, primary.id)
    done = (len(_healthy(record, mine)) == len(mine) == record.desired_count
            and all(dep == primary.id for dep, _ in record.tasks.values()))
    if done and primary.rollout_state == "IN_PROGRESS":
        primary.rollout_state = "COMPLETED"
        primary.rollout_state_reason = f"ECS deployment {primary.id} completed."
        primary.finished_at = primary.updated_at = now
        for old in record.deployments[1:]:
            old.status, old.updated_at = "INACTIVE", now
        del record.deployments[1:]
        _event(record, now, f"(service {record.name}) (deployment {primary.id}) "
               "deployment completed.")
    if done and primary.rollout_state == "COMPLETED" and not record.steady:
        record.steady = True
        _event(record, now, f"(service {record.name}) has reached a steady state.")


def step(record: ServiceRecord, observed: Mapping[str, TaskState], now: float,
         timing: Timing, new_task_arn: Callable[[], str], *,
         firing: Collection[str] = ()) -> list[Action]:
    """One pass of the service scheduler: take in the observed task states, trip the circuit
    breaker (or fail on ``firing``, the watched alarms now in ALARM), stop and start tasks,
    refresh the counts and the rollout state."""
    actions: list[Action] = []
    record.threshold = timing.failed_task_threshold
    _observe(record, observed, now, timing, actions)
    primary = record.primary
    fired = tuple(n for n in watched_alarms(record) if n in firing)
    if (record.config.circuit_breaker and primary.rollout_state == "IN_PROGRESS"
            and primary.failed_tasks >= timing.failed_task_threshold):
        _fail(record, now, actions)
    elif fired:
        _fail(record, now, actions, fired)
    if record.primary.rollout_state != "FAILED":
        stopped = _stop_old(record, actions)
        started = _start(record, now, new_task_arn, actions)
        for verb, arns in (("stopped", stopped), ("started", started)):
            if arns:
                tasks = " ".join(f"(task {_short(a)})" for a in arns)
                running = " running" if verb == "stopped" else ""
                _event(record, now, f"(service {record.name}) has {verb} {len(arns)}"
                       f"{running} tasks: {tasks}.")
    _count(record, now)
    _settle(record, now)
    return actions


def describe(record: ServiceRecord) -> dict[str, Any]:
    """The pieces of DescribeServices' `Service` the scheduler knows (the API front lays them
    over moto's answer): deployments, counts, task definition, events, configuration."""
    deployments = [{
        "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
        "desiredCount": d.desired_count, "pendingCount": d.pending_count,
        "runningCount": d.running_count, "failedTasks": d.failed_tasks,
        "createdAt": d.created_at, "updatedAt": d.updated_at, "launchType": "FARGATE",
        "rolloutState": d.rollout_state, "rolloutStateReason": d.rollout_state_reason,
    } for d in record.deployments]
    return {
        "deployments": deployments, "desiredCount": record.desired_count,
        "runningCount": sum(d.running_count for d in record.deployments),
        "pendingCount": sum(d.pending_count for d in record.deployments),
        "taskDefinition": record.primary.task_definition,
        "events": [{"id": e.id, "createdAt": e.created_at, "message": e.message}
                   for e in record.events],
        "deploymentConfiguration": deployment_config.to_answer(record.config),
        "currentServiceDeployment": record.primary.arn,
    }
