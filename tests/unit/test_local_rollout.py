"""The local ECS control plane's rolling update (release/local/ecs/rollout.py), driven by a fake
runtime and a fake clock: tasks go PENDING, then RUNNING (then HEALTHY when their definition
has a healthCheck), or exit at start, as each task definition is told to behave."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from release.local.ecs import rollout, service_deployments
from release.local.ecs.model import (
    ContainerState,
    DeploymentConfig,
    ServiceRecord,
    StartTask,
    StopTask,
    TaskSpec,
    TaskState,
    Timing,
)

ARN = "arn:aws:ecs:us-east-1:123456789012"
SERVICE = f"{ARN}:service/dev/web"
V1, V2 = f"{ARN}:task-definition/web:1", f"{ARN}:task-definition/web:2"
CHECK = {"command": ["CMD", "true"], "interval": 5}
TIMING = Timing(failed_task_threshold=3)


def _definition(arn: str, health_check: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "web", "essential": True}
    if health_check:
        container["healthCheck"] = CHECK
    return {"taskDefinitionArn": arn, "containerDefinitions": [container]}


def _state(arn: str, spec: TaskSpec, status: str, health: str = "UNKNOWN",
           **extra: Any) -> TaskState:
    container = ContainerState("app", "web", status, health)  # type: ignore[arg-type]
    return TaskState(spec, status, "STOPPED" if status == "STOPPED" else "RUNNING",  # type: ignore[arg-type]
                     health, (container,), 0.0, **extra)  # type: ignore[arg-type]


class World:
    """A fake runtime: `behave` maps a task definition ARN to ok, crash or unhealthy."""

    def __init__(self, record: ServiceRecord, behave: dict[str, str] | None = None,
                 health_check: bool = False) -> None:
        self.record, self.behave, self.health_check = record, behave or {}, health_check
        self.now, self.count = 1000.0, 0
        self.states: dict[str, TaskState] = {}
        self.actions: list[StartTask | StopTask] = []
        self.peak_live, self.low_healthy = 0, 10**6

    def _arn(self) -> str:
        self.count += 1
        return f"{ARN}:task/dev/{self.count:032x}"

    def _advance(self, arn: str, s: TaskState) -> TaskState:
        kind = self.behave.get(s.spec.task_definition["taskDefinitionArn"], "ok")
        if s.last_status == "PENDING" and kind == "crash":
            return _state(arn, s.spec, "STOPPED", stop_code="EssentialContainerExited")
        if s.last_status == "PENDING":
            return _state(arn, s.spec, "RUNNING")
        if s.last_status == "RUNNING" and self.health_check and s.health_status == "UNKNOWN":
            return _state(arn, s.spec, "RUNNING", "UNHEALTHY" if kind == "unhealthy" else
                          "HEALTHY")
        return s

    def tick(self) -> list[StartTask | StopTask]:
        """One scheduler step after the runtime moved every task on."""
        self.states = {a: self._advance(a, s) for a, s in self.states.items()}
        actions = rollout.step(self.record, dict(self.states), self.now, TIMING, self._arn)
        for action in actions:
            if isinstance(action, StartTask):
                td = _definition(action.task_definition, self.health_check)
                spec = TaskSpec(action.task_arn, "dev", "web", action.deployment_id, td)
                self.states[action.task_arn] = _state(action.task_arn, spec, "PENDING")
            else:
                s = self.states[action.task_arn]
                self.states[action.task_arn] = _state(action.task_arn, s.spec, "STOPPED",
                                                      stop_code=action.code)
        live = [s for s in self.states.values() if s.last_status != "STOPPED"]
        self.peak_live = max(self.peak_live, len(live))
        self.low_healthy = min(self.low_healthy, sum(map(rollout.is_healthy, live)))
        self.actions += actions
        self.now += 1
        return actions

    def settle(self, ticks: int = 20) -> None:
        """Step until nothing changes for three steps."""
        quiet = 0
        for _ in range(ticks):
            quiet = 0 if self.tick() else quiet + 1
            if quiet == 3:
                return

    def running(self) -> dict[str, str]:
        """Live task ARN -> its task definition ARN."""
        return {a: s.spec.task_definition["taskDefinitionArn"] for a, s in self.states.items()
                if s.last_status != "STOPPED"}


def _service(count: int = 2, **config: Any) -> ServiceRecord:
    return rollout.create("dev", "web", SERVICE, task_definition=V1, desired_count=count,
                          now=999.0, config=DeploymentConfig(**config))


def _messages(record: ServiceRecord) -> list[str]:
    return [e.message for e in record.events]


def _deployed(count: int = 2, health_check: bool = False, **config: Any) -> World:
    world = World(_service(count, **config), health_check=health_check)
    world.settle()
    world.actions, world.peak_live, world.low_healthy = [], 0, 10**6
    return world


def test_first_deployment_completes() -> None:
    record = _service()
    (deployment,) = record.deployments
    assert re.fullmatch(r"ecs-svc/\d{19}", deployment.id)
    assert deployment.arn == f"{ARN}:service-deployment/dev/web/{deployment.id[8:]}"
    assert (deployment.status, deployment.rollout_state) == ("PRIMARY", "IN_PROGRESS")
    world = World(record)
    first = world.tick()
    assert [type(a) for a in first] == [StartTask, StartTask]
    assert describe_counts(record) == (2, 0, 2)
    world.settle()
    assert (deployment.rollout_state, deployment.running_count) == ("COMPLETED", 2)
    assert deployment.rollout_state_reason == f"ECS deployment {deployment.id} completed."
    messages = _messages(record)
    assert messages[0] == "(service web) has reached a steady state."
    assert messages[1] == f"(service web) (deployment {deployment.id}) deployment completed."
    assert re.fullmatch(r"\(service web\) has started 2 tasks: \(task \w+\) \(task \w+\)\.",
                        messages[2])
    assert describe_counts(record) == (0, 2, 2)


def describe_counts(record: ServiceRecord) -> tuple[int, int, int]:
    """(pendingCount, runningCount, desiredCount) as DescribeServices says them."""
    answer = rollout.describe(record)
    return answer["pendingCount"], answer["runningCount"], answer["desiredCount"]


@pytest.mark.parametrize(("minimum", "maximum", "peak", "low"), [
    (100, 200, 4, 2),
    (50, 100, 2, 1),
    (0, 100, 2, 0),
])
def test_rolling_update_respects_the_percentages(minimum: int, maximum: int, peak: int,
                                                 low: int) -> None:
    world = _deployed(minimum_healthy_percent=minimum, maximum_percent=maximum)
    old = world.record.primary
    new = rollout.update(world.record, now=world.now, task_definition=V2)
    assert (old.status, new.status, len(world.record.deployments)) == ("ACTIVE", "PRIMARY", 2)
    assert rollout.describe(world.record)["taskDefinition"] == V2
    world.settle()
    assert (world.peak_live, world.low_healthy) == (peak, low)
    assert set(world.running().values()) == {V2}
    assert len(world.running()) == 2
    assert world.record.deployments == [new]
    assert (new.rollout_state, old.status) == ("COMPLETED", "INACTIVE")
    stops = [a for a in world.actions if isinstance(a, StopTask)]
    assert [a.reason for a in stops] == [f"Scaling activity initiated by (deployment {new.id})"] * 2
    assert any("has stopped" in m for m in _messages(world.record))


def _crashing(rollback: bool) -> tuple[World, Any, Any]:
    world = _deployed(1, circuit_breaker=True, rollback=rollback)
    old = world.record.primary
    world.behave[V2] = "crash"
    new = rollout.update(world.record, now=world.now, task_definition=V2)
    world.settle(40)
    return world, old, new


def test_a_task_crashing_at_start_fails_the_deployment_and_rolls_back() -> None:
    world, old, new = _crashing(rollback=True)
    record = world.record
    assert (new.rollout_state, new.rollout_state_reason) == (
        "FAILED", "ECS deployment circuit breaker: tasks failed to start.")
    assert new.failed_tasks == 3
    assert len([a for a in world.actions if isinstance(a, StartTask)
                and a.task_definition == V2]) == 3
    back = record.primary
    assert (back.task_definition, back.rollout_state, back.rollback_of) == (V1, "COMPLETED",
                                                                           new.id)
    assert back.id not in (old.id, new.id)
    assert set(world.running().values()) == {V1}
    messages = _messages(record)
    assert f"(service web) deployment {new.id} deployment failed: tasks failed to start." \
        in messages
    assert f"(service web) rolling back to deployment {old.id}." in messages
    assert messages[0] == "(service web) has reached a steady state."
    briefs = service_deployments.service_deployments(record)
    assert [b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    detail = service_deployments.service_deployment(record, new.arn)
    assert detail["rollback"]["serviceRevisionArn"] == old.revision_arn
    assert detail["deploymentCircuitBreaker"] == {"status": "TRIGGERED", "failureCount": 3,
                                                  "threshold": 3}


def test_without_rollback_the_failed_deployment_stays_primary() -> None:
    world, old, new = _crashing(rollback=False)
    record = world.record
    assert record.deployments == [new, old]
    assert (new.status, new.rollout_state, old.status) == ("PRIMARY", "FAILED", "ACTIVE")
    assert set(world.running().values()) == {V1}
    before = len(world.actions)
    for _ in range(5):
        assert world.tick() == []
    assert len(world.actions) == before
    assert not any("rolling back" in m for m in _messages(record))
    assert service_deployments.service_deployments(record)[0]["status"] == "STOPPED"


def test_without_circuit_breaker_a_crashing_deployment_keeps_retrying() -> None:
    world = _deployed()
    world.behave[V2] = "crash"
    new = rollout.update(world.record, now=world.now, task_definition=V2)
    world.settle(15)
    assert new.rollout_state == "IN_PROGRESS"
    assert len([a for a in world.actions if isinstance(a, StartTask)]) > 5


def test_an_unhealthy_task_is_stopped_and_replaced() -> None:
    world = _deployed(health_check=True)
    record = world.record
    assert record.primary.rollout_state == "COMPLETED"
    victim = next(iter(world.running()))
    s = world.states[victim]
    world.states[victim] = _state(victim, s.spec, "RUNNING", "UNHEALTHY")
    world.settle()
    stop = next(a for a in world.actions if isinstance(a, StopTask))
    assert (stop.task_arn, stop.reason) == (victim, "Task failed container health checks")
    assert len(world.running()) == 2
    assert victim not in world.running()
    messages = _messages(record)
    assert f"(service web) (task {victim.rsplit('/', 1)[1]}) failed container health checks." \
        in messages
    assert messages[0] == "(service web) has reached a steady state."


def test_a_task_exiting_after_completion_is_replaced() -> None:
    world = _deployed()
    victim = next(iter(world.running()))
    world.states[victim] = _state(victim, world.states[victim].spec, "STOPPED")
    world.settle()
    assert len(world.running()) == 2
    assert world.record.primary.rollout_state == "COMPLETED"
    assert world.record.primary.failed_tasks == 0


def test_desired_count_changes_adjust_the_primary() -> None:
    world = _deployed()
    primary = world.record.primary
    assert rollout.update(world.record, now=world.now, desired_count=3) is primary
    world.settle()
    assert (len(world.running()), primary.desired_count, primary.running_count) == (3, 3, 3)
    rollout.update(world.record, now=world.now, desired_count=1)
    world.settle()
    assert len(world.running()) == 1
    assert world.record.deployments == [primary]
    assert primary.rollout_state == "COMPLETED"


def test_force_new_deployment_replaces_tasks_with_the_same_definition() -> None:
    world = _deployed()
    old_tasks = set(world.running())
    old = world.record.primary
    new = rollout.update(world.record, now=world.now, force_new_deployment=True)
    assert new is not old
    assert new.task_definition == old.task_definition == V1
    world.settle()
    assert not old_tasks & set(world.running())
    assert world.record.deployments == [new]
    assert rollout.update(world.record, now=world.now, task_definition=V1) is new


def test_a_task_never_running_is_stopped_after_the_start_timeout() -> None:
    record = _service(1)
    actions = rollout.step(record, {}, 0.0, TIMING, lambda: f"{ARN}:task/dev/a")
    assert actions == [StartTask(f"{ARN}:task/dev/a", record.primary.id, V1)]
    late = rollout.step(record, {}, TIMING.task_start_timeout + 1, TIMING, lambda: "x")
    assert StopTask(f"{ARN}:task/dev/a", "TaskFailedToStart",
                    "Task did not reach RUNNING in time") in late


@pytest.mark.parametrize(("status", "health", "check", "healthy"), [
    ("RUNNING", "UNKNOWN", False, True),
    ("RUNNING", "UNKNOWN", True, False),
    ("RUNNING", "HEALTHY", True, True),
    ("RUNNING", "UNHEALTHY", True, False),
    ("PENDING", "UNKNOWN", False, False),
])
def test_is_healthy(status: str, health: str, check: bool, healthy: bool) -> None:
    spec = TaskSpec("t", "dev", "web", "ecs-svc/1", _definition(V1, check))
    assert rollout.is_healthy(_state("t", spec, status, health)) is healthy


def test_events_are_capped_at_100_newest_first() -> None:
    world = _deployed()
    for count in range(100):
        rollout.update(world.record, now=world.now, desired_count=2 + count % 2)
        world.tick()
    record = world.record
    assert len(record.events) == 100
    times = [e.created_at for e in record.events]
    assert times == sorted(times, reverse=True)


# --- every answer holds to botocore's output shapes -------------------------------------

_MODEL = botocore.session.get_session().get_service_model("ecs")


def _shape_errors(shape: Any, value: Any, path: str) -> list[str]:
    """How `value` breaks `shape` (structures: known keys; enums; timestamps as numbers)."""
    kind, number = shape.type_name, isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        errors = [f"{path}.{k}: unknown key" for k in value if k not in shape.members]
        return errors + [e for k, v in value.items() if k in shape.members
                         for e in _shape_errors(shape.members[k], v, f"{path}.{k}")]
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [e for i, v in enumerate(value)
                for e in _shape_errors(shape.member, v, f"{path}[{i}]")]
    ok = {"string": isinstance(value, str), "boolean": isinstance(value, bool),
          "integer": number and isinstance(value, int), "long": number and isinstance(value, int),
          "double": number, "float": number, "timestamp": number}.get(kind, False)
    if not ok:
        return [f"{path}: {value!r} is not a {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} not in {shape.enum}"]
    return []


def _check(shape: str, value: Any) -> None:
    assert _shape_errors(_MODEL.shape_for(shape), value, shape) == []


def test_the_shape_checker_catches_mistakes() -> None:
    service = _MODEL.shape_for("Service")
    assert _shape_errors(service, {"desiredCount": "2"}, "S") == ["S.desiredCount: '2' is not "
                                                                 "a integer"]
    assert _shape_errors(service, {"nope": 1}, "S") == ["S.nope: unknown key"]
    assert _shape_errors(service, {"launchType": "MOON"}, "S")
    assert _shape_errors(service, {"events": [{"createdAt": "yesterday"}]}, "S")


def _all_answers(record: ServiceRecord) -> None:
    _check("Service", rollout.describe(record))
    for brief in service_deployments.service_deployments(record):
        _check("ServiceDeploymentBrief", brief)
        arn = brief["serviceDeploymentArn"]
        _check("ServiceDeployment", service_deployments.service_deployment(record, arn))


def test_every_answer_has_ecs_shapes() -> None:
    world = World(_service(circuit_breaker=True, rollback=True))
    _all_answers(world.record)
    world.settle()
    rollout.update(world.record, now=world.now, task_definition=V2)
    world.tick()
    _all_answers(world.record)
    rollout.update(world.record, now=world.now, force_new_deployment=True)
    world.behave[V2] = "crash"
    for _ in range(30):
        world.tick()
        _all_answers(world.record)
    statuses = {b["status"] for b in service_deployments.service_deployments(world.record)}
    assert statuses == {"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL"}
    with pytest.raises(KeyError):
        service_deployments.service_deployment(world.record, f"{ARN}:service-deployment/dev/web/1")

