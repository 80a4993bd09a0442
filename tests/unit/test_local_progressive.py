"""BLUE_GREEN, CANARY and LINEAR deployments on the control plane, with a fake runtime and an
injected clock: the stages, the traffic weights the listeners get, hooks, alarms,
Continue/StopServiceDeployment, RunTask; every answer in botocore's output shape."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from release.local.ecs import traffic
from release.local.ecs.api import EcsError
from release.local.ecs.model import ContainerState, TaskSpec, TaskState, Timing
from release.local.ecs.plane import Plane
from release.local.ecs.shapes import check_shape

REGION, ACCOUNT = "eu-west-1", "123456789012"
TD1 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/local-web:1"
TD2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/local-web:2"
HOOK = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hook"


def body(arn: str, exit_code: int | None = None) -> dict[str, Any]:
    return {"taskDefinitionArn": arn, "family": "local-web", "exit": exit_code,
            "containerDefinitions": [{"name": "web", "image": "img", "essential": True}]}


class FakeRuntime:
    """Tasks run at once (a definition with ``exit`` stops at once with that exit code)."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}
        self.pending: set[str] = set()  # task definitions whose tasks stay PENDING

    def start(self, spec: TaskSpec) -> None:
        code = spec.task_definition.get("exit")
        done = code is not None
        if spec.task_definition["taskDefinitionArn"] in self.pending:
            self.tasks[spec.task_arn] = TaskState(spec, "PENDING", "RUNNING", "UNKNOWN", (
                ContainerState("web", "img", "PENDING"),), created_at=1.0)
            return
        command = spec.task_definition["containerDefinitions"][0].get("command")
        self.tasks[spec.task_arn] = TaskState(
            spec, "STOPPED" if done else "RUNNING", "STOPPED" if done else "RUNNING",
            "UNKNOWN", (ContainerState("web", "img", "STOPPED" if done else "RUNNING",
                                       exit_code=code, reason=" ".join(command or []) or None),),
            created_at=1.0, started_at=1.0, stopped_at=2.0 if done else None,
            stop_code="EssentialContainerExited" if done else None,
            stopped_reason="Essential container in task exited" if done else None,
            netns_pid=os.getpid())

    def poll(self, task_arn: str) -> TaskState:
        return self.tasks[task_arn]

    def stop(self, task_arn: str, code: Any, reason: str) -> None:
        self.tasks[task_arn] = replace(self.tasks[task_arn], last_status="STOPPED",
                                       desired_status="STOPPED", stop_code=code,
                                       stopped_reason=reason, stopped_at=3.0)

    def logs(self, task_arn: str, container: str, lines: int) -> list[str]:
        return []

    def close(self) -> None:
        self.tasks.clear()


class World:
    """A plane with one service ``web`` running revision 1, a clock the test moves, alarms
    the test sets and a hook function whose answers the test scripts."""

    def __init__(self, tmp_path: Path, **plane: Any) -> None:
        self.now = 0.0
        self.firing: set[str] = set()
        self.hook_answers: list[Any] = []
        self.invoked: list[dict[str, Any]] = []
        self.runtime = FakeRuntime()
        definitions = {TD1: body(TD1), TD2: body(TD2), "migrate:1": body(TD2, exit_code=0),
                       "broken:1": body(TD2, exit_code=3)}
        self.plane = Plane(self.runtime, definitions.__getitem__, region=REGION,
                           account_id=ACCOUNT, timing=Timing(minute_seconds=10.0),
                           ports_file=tmp_path / "ports.json", clock=lambda: self.now,
                           alarms=lambda names: self.firing & set(names),
                           invoke=self.invoke, **plane)
        self.plane.create_service({}, {"service": service(TD1)})
        self.run(3)

    def invoke(self, arn: str, payload: Any) -> Any:
        self.invoked.append(payload)
        return self.hook_answers.pop(0) if self.hook_answers else {"hookStatus": "SUCCEEDED"}

    def run(self, passes: int = 1, seconds: float = 1.0) -> None:
        for _ in range(passes):
            self.now += seconds
            self.plane.tick()
            self.plane._hooks.shutdown(wait=True)  # the hook invocations ran
            from concurrent.futures import ThreadPoolExecutor
            self.plane._hooks = ThreadPoolExecutor(max_workers=1)

    def deploy(self, configuration: dict[str, Any]) -> str:
        answer = self.plane.update_service(
            {"taskDefinition": TD2, "deploymentConfiguration": configuration,
             "forceNewDeployment": True},
            {"service": service(TD2)})
        assert check_shape("UpdateService", answer) == []
        return str(answer["service"]["currentServiceDeployment"])

    def deployment(self, arn: str) -> dict[str, Any]:
        answer = self.plane.describe_service_deployments({"serviceDeploymentArns": [arn]})
        assert check_shape("DescribeServiceDeployments", answer) == []
        [found] = answer["serviceDeployments"]
        return dict(found)

    def running(self) -> list[str]:
        return sorted(s.spec.task_definition["taskDefinitionArn"].rsplit(":", 1)[-1]
                      for s in self.runtime.tasks.values() if s.last_status == "RUNNING")


def service(arn: str) -> dict[str, Any]:
    return {"serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/local/web",
            "serviceName": "web", "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/local",
            "status": "ACTIVE", "desiredCount": 2, "taskDefinition": arn}


def canary(**extra: Any) -> dict[str, Any]:
    return {"strategy": "CANARY", "bakeTimeInMinutes": 1,
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1},
            "deploymentCircuitBreaker": {"enable": True, "rollback": True}, **extra}


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def record(world: World) -> Any:
    return world.plane._services[("local", "web")]


def test_a_canary_moves_ten_percent_bakes_then_all_and_stops_the_old_tasks(world: World) -> None:
    arn = world.deploy(canary())
    seen: list[tuple[str, float]] = []
    for _ in range(60):
        world.run()
        found = world.deployment(arn)
        weight = found["targetServiceRevision"].get("requestedProductionTrafficWeight", 0.0)
        if not seen or seen[-1] != (found["lifecycleStage"], weight):
            seen.append((found["lifecycleStage"], weight))
        if found["status"] == "SUCCESSFUL":
            break
    assert found["status"] == "SUCCESSFUL"
    assert ("PRODUCTION_TRAFFIC_SHIFT", 10.0) in seen
    assert list(dict.fromkeys(weight for _, weight in seen if weight)) == [10.0, 100.0]
    assert [stage for stage, _ in seen][-2:] == ["BAKE_TIME", "CLEAN_UP"]
    assert world.running() == ["2", "2"]
    listed = world.plane.list_service_deployments({"cluster": "local", "service": "web"})
    assert check_shape("ListServiceDeployments", listed) == []


def test_the_canary_bake_lasts_its_minutes_on_the_injected_clock(world: World) -> None:
    arn = world.deploy(canary())
    while world.deployment(arn)["targetServiceRevision"].get(
            "requestedProductionTrafficWeight") != 10.0:
        world.run()
    world.run(9)  # 9 of the 10 seconds one minute lasts here
    assert world.deployment(arn)["targetServiceRevision"][
        "requestedProductionTrafficWeight"] == 10.0
    world.run(2)
    assert world.deployment(arn)["targetServiceRevision"][
        "requestedProductionTrafficWeight"] == 100.0


def test_linear_moves_in_steps(world: World) -> None:
    arn = world.deploy({"strategy": "LINEAR", "bakeTimeInMinutes": 0, "linearConfiguration":
                        {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1}})
    weights: list[float] = []
    for _ in range(80):
        world.run(seconds=2.0)
        found = world.deployment(arn)
        weight = found["targetServiceRevision"].get("requestedProductionTrafficWeight", 0.0)
        if weight and (not weights or weights[-1] != weight):
            weights.append(weight)
        if found["status"] == "SUCCESSFUL":
            break
    assert weights == [25.0, 50.0, 75.0, 100.0]


@pytest.mark.parametrize(("percent", "new", "total"), [(10.0, 1, 10), (25.0, 1, 4),
                                                        (50.0, 1, 2), (33.3, 333, 1000)])
def test_the_listener_targets_carry_the_weight(percent: float, new: int, total: int) -> None:
    picks = traffic.weighted([1], [2, 3], percent)
    assert (picks.count(1), len(picks)) == (new, total)


def test_an_alarm_in_alarm_during_the_bake_rolls_back_to_the_old_tasks(world: World) -> None:
    arn = world.deploy(canary(alarms={"alarmNames": ["errors"], "enable": True,
                                      "rollback": True}))
    while world.deployment(arn)["lifecycleStage"] != "PRODUCTION_TRAFFIC_SHIFT":
        world.run()
    world.firing.add("errors")
    world.run(3)
    found = world.deployment(arn)
    assert found["status"] == "ROLLBACK_SUCCESSFUL"
    assert found["alarms"] == {"status": "TRIGGERED", "alarmNames": ["errors"],
                               "triggeredAlarmNames": ["errors"]}
    assert "errors" in found["rollback"]["reason"]
    assert world.running() == ["1", "1"]
    production, test = traffic.targets(record(world))
    assert production == test == [os.getpid(), os.getpid()]  # the old tasks' namespaces


def test_a_pause_hook_waits_for_continue(world: World) -> None:
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]
    arn = world.deploy(canary(lifecycleHooks=hooks))
    world.run(20)
    found = world.deployment(arn)
    assert (found["status"], found["lifecycleStage"]) == ("IN_PROGRESS",
                                                          "POST_TEST_TRAFFIC_SHIFT")
    [hook] = found["lifecycleHookDetails"]
    assert hook["status"] == "AWAITING_ACTION"
    with pytest.raises(EcsError, match="InvalidParameterException"):
        world.plane.continue_service_deployment({"serviceDeploymentArn": arn,
                                                 "hookId": "nope"})
    answer = world.plane.continue_service_deployment(
        {"serviceDeploymentArn": arn, "hookId": hook["hookId"], "action": "CONTINUE"})
    assert check_shape("ContinueServiceDeployment", answer) == []
    world.run(60)
    assert world.deployment(arn)["status"] == "SUCCESSFUL"


def test_stop_with_rollback_puts_the_old_revision_back(world: World) -> None:
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]
    arn = world.deploy(canary(lifecycleHooks=hooks))
    world.run(20)
    answer = world.plane.stop_service_deployment({"serviceDeploymentArn": arn,
                                                  "stopType": "ROLLBACK"})
    assert check_shape("StopServiceDeployment", answer) == []
    world.run(3)
    found = world.deployment(arn)
    assert found["status"] == "ROLLBACK_SUCCESSFUL"
    assert world.running() == ["1", "1"]
    with pytest.raises(EcsError, match="InvalidParameterException"):
        world.plane.stop_service_deployment({"serviceDeploymentArn": arn})


@pytest.mark.parametrize(("answers", "status"), [
    ([{"hookStatus": "IN_PROGRESS", "callBackDelay": 6}, {"hookStatus": "SUCCEEDED"}],
     "SUCCESSFUL"),
    ([{"hookStatus": "FAILED"}], "ROLLBACK_SUCCESSFUL"),
    (["the invoke failed: no such function"], "ROLLBACK_SUCCESSFUL"),
    ([{"StatusCode": 200}], "ROLLBACK_SUCCESSFUL"),  # an answer without a hookStatus
])
def test_a_lambda_hook_decides(world: World, answers: list[Any], status: str) -> None:
    hooks = [{"hookTargetArn": HOOK, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/hooks",
              "lifecycleStages": ["POST_SCALE_UP"]}]
    world.hook_answers = list(answers)
    arn = world.deploy(canary(lifecycleHooks=hooks))
    world.run(80)
    found = world.deployment(arn)
    assert found["status"] == status
    assert len(world.invoked) == len(answers)
    assert world.invoked[0]["lifecycleStage"] == "POST_SCALE_UP"


def test_a_newer_deployment_replaces_one_under_way(world: World) -> None:
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}]
    first = world.deploy(canary(lifecycleHooks=hooks))
    world.run(5)
    second = world.deploy(canary(lifecycleHooks=[]))
    world.run(60)
    assert world.deployment(first)["status"] == "STOPPED"
    assert world.deployment(second)["status"] == "SUCCESSFUL"


def test_out_of_range_configuration_is_refused(world: World) -> None:
    with pytest.raises(EcsError, match="canaryPercent"):
        world.deploy(canary(canaryConfiguration={"canaryPercent": 0.0}))
    with pytest.raises(EcsError, match="bakeTimeInMinutes"):
        world.deploy(canary(bakeTimeInMinutes=1441))


@pytest.mark.parametrize(("definition", "code"), [("migrate:1", 0), ("broken:1", 3)])
def test_run_task_runs_once_and_reports_its_exit_code(world: World, definition: str,
                                                      code: int) -> None:
    started = world.plane.run_task({"cluster": "local", "taskDefinition": definition,
                                    "startedBy": "release", "overrides": {
                                        "containerOverrides": [{"name": "web",
                                                                "command": ["migrate"]}]}})
    assert check_shape("RunTask", started) == []
    world.run()
    [arn] = [t["taskArn"] for t in started["tasks"]]
    described = world.plane.describe_tasks({"cluster": "local", "tasks": [arn]})
    assert check_shape("DescribeTasks", described) == []
    [task] = described["tasks"]
    assert (task["lastStatus"], task["containers"][0]["exitCode"]) == ("STOPPED", code)
    assert task["containers"][0]["reason"] == "migrate"  # the command override reached it
    assert task["group"] == "family:local-web"
    with pytest.raises(EcsError, match="containerOverrides"):
        world.plane.run_task({"taskDefinition": definition,
                              "overrides": {"containerOverrides": [{"name": "nope"}]}})


def test_a_rolling_update_fails_and_rolls_back_when_its_alarm_fires(world: World) -> None:
    world.runtime.pending.add(TD2)  # the rollout is under way when the alarm fires
    arn = world.deploy({"strategy": "ROLLING", "deploymentCircuitBreaker": {
        "enable": True, "rollback": True}, "alarms": {"alarmNames": ["errors"],
                                                      "enable": True, "rollback": True}})
    world.run()
    assert world.deployment(arn)["alarms"]["status"] == "MONITORING"
    world.firing.add("errors")
    world.run(6)
    found = world.deployment(arn)
    assert found["status"] == "ROLLBACK_SUCCESSFUL"
    assert found["statusReason"] == ("Service deployment rolled back because the CloudWatch "
                                     "alarm errors went into ALARM.")
    assert found["alarms"]["triggeredAlarmNames"] == ["errors"]
    assert world.running() == ["1", "1"]

