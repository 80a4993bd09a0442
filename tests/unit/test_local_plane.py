"""The control plane's answers, on a fake runtime: services deploy, tasks are listed and
described, service deployments answer, and every answer has ECS's output shape."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from release.local.ecs.api import EcsError
from release.local.ecs.model import ContainerState, TaskSpec, TaskState, Timing
from release.local.ecs.plane import Plane
from release.local.ecs.shapes import check_shape

REGION, ACCOUNT = "eu-west-1", "123456789012"
TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/local-web:1"
TD2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/local-web:2"


def body(arn: str, *, port: bool = False, exits: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "127.0.0.1:5001/web@sha256:" + "1" * 64,
                                 "essential": True}
    if port:
        container["portMappings"] = [{"containerPort": 80, "protocol": "tcp"}]
    return {"taskDefinitionArn": arn, "family": "local-web", "cpu": "256", "memory": "512",
            "containerDefinitions": [container], "exits": exits}


class FakeRuntime:
    """Tasks start RUNNING at once (or exit 3 when their definition says so)."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}

    def start(self, spec: TaskSpec) -> None:
        exits = bool(spec.task_definition.get("exits"))
        self.tasks[spec.task_arn] = TaskState(
            spec, "STOPPED" if exits else "RUNNING", "STOPPED" if exits else "RUNNING",
            "UNKNOWN", (ContainerState("web", "img", "STOPPED" if exits else "RUNNING",
                                       exit_code=3 if exits else None),),
            created_at=1.0, started_at=1.0, stopped_at=2.0 if exits else None,
            stop_code="EssentialContainerExited" if exits else None,
            stopped_reason="Essential container in task exited" if exits else None,
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


def moto_service(arn: str = TD, desired: int = 2) -> dict[str, Any]:
    return {"serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/local/web",
            "serviceName": "web", "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/local",
            "status": "ACTIVE", "desiredCount": desired, "runningCount": desired,
            "pendingCount": 0, "taskDefinition": arn, "launchType": "FARGATE"}


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    definitions = {TD: body(TD), TD2: body(TD2, exits=True)}
    ticks = iter(range(10_000))
    return Plane(FakeRuntime(), definitions.__getitem__, region=REGION, account_id=ACCOUNT,
                 timing=Timing(failed_task_threshold=2), ports_file=tmp_path / "ports.json",
                 clock=lambda: float(next(ticks)))


def run(plane: Plane, passes: int = 5) -> None:
    for _ in range(passes):
        plane.tick()


def test_a_created_service_runs_its_tasks_and_every_answer_has_ecs_shape(
        plane: Plane) -> None:
    created = plane.create_service({"serviceName": "web", "cluster": "local"},
                                   {"service": moto_service()})
    assert check_shape("CreateService", created) == []
    run(plane)
    described = plane.describe_services({}, {"services": [moto_service()], "failures": []})
    assert check_shape("DescribeServices", described) == []
    [service] = described["services"]
    assert (service["runningCount"], service["deployments"][0]["rolloutState"]) == (
        2, "COMPLETED")
    listed = plane.list_tasks({"cluster": "local", "serviceName": "web"})
    assert check_shape("ListTasks", listed) == []
    assert len(listed["taskArns"]) == 2
    tasks = plane.describe_tasks({"cluster": "local", "tasks": [*listed["taskArns"], "nope"]})
    assert check_shape("DescribeTasks", tasks) == []
    assert {t["lastStatus"] for t in tasks["tasks"]} == {"RUNNING"}
    assert tasks["failures"] == [{"arn": "nope", "reason": "MISSING"}]
    deployments = plane.list_service_deployments({"cluster": "local", "service": "web"})
    assert check_shape("ListServiceDeployments", deployments) == []
    arns = [d["serviceDeploymentArn"] for d in deployments["serviceDeployments"]]
    found = plane.describe_service_deployments({"serviceDeploymentArns": [*arns, "x"]})
    assert check_shape("DescribeServiceDeployments", found) == []
    assert found["failures"] == [{"arn": "x", "reason": "MISSING"}]


def test_a_deployment_whose_tasks_exit_is_rolled_back_and_its_tasks_kept_stopped(
        plane: Plane) -> None:
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    plane.create_service({"deploymentConfiguration": breaker}, {"service": moto_service()})
    run(plane)
    updated = plane.update_service({"taskDefinition": "local-web:2"},
                                   {"service": moto_service(TD2)})
    assert check_shape("UpdateService", updated) == []
    run(plane, 10)
    [service] = plane.describe_services({}, {"services": [moto_service(TD2)]})["services"]
    assert service["taskDefinition"] == TD  # the circuit breaker put revision 1 back
    stopped = plane.list_tasks({"cluster": "local", "desiredStatus": "STOPPED"})
    described = plane.describe_tasks({"cluster": "local", "tasks": stopped["taskArns"]})
    assert check_shape("DescribeTasks", described) == []
    exits = [t for t in described["tasks"] if t.get("stopCode") == "EssentialContainerExited"]
    assert exits
    assert exits[0]["containers"][0]["exitCode"] == 3


def test_unknown_services_and_tasks_are_ecs_errors(plane: Plane) -> None:
    with pytest.raises(EcsError) as missing:
        plane.list_service_deployments({"cluster": "local", "service": "ghost"})
    assert missing.value.code == "ServiceNotFoundException"
    with pytest.raises(EcsError) as unknown:
        plane.stop_task({"cluster": "local", "task": "arn:aws:ecs:x:task/local/none"})
    assert unknown.value.code == "InvalidParameterException"


def test_a_service_with_a_port_gets_a_kept_loopback_binding(plane: Plane, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    if os.geteuid() != 0:
        pytest.skip("the listener enters network namespaces: root only")
    plane._task_definition = {TD: body(TD, port=True)}.__getitem__
    plane.create_service({}, {"service": moto_service(desired=1)})
    run(plane)
    [arn] = plane.list_tasks({"cluster": "local"})["taskArns"]
    [task] = plane.describe_tasks({"cluster": "local", "tasks": [arn]})["tasks"]
    [binding] = task["containers"][0]["networkBindings"]
    assert binding["bindIP"] == "127.0.0.1"
    assert binding["containerPort"] == 80
    assert (tmp_path / "ports.json").read_text().count(str(binding["hostPort"])) == 1
    plane.close()


def test_a_reset_of_moto_stops_every_task_and_forgets_the_services(plane: Plane) -> None:
    plane.create_service({}, {"service": moto_service()})
    run(plane)
    runtime = plane._runtime
    assert {s.last_status for s in runtime.tasks.values()} == {"RUNNING"}
    plane.reset()
    assert {s.stopped_reason for s in runtime.tasks.values()} == {"The local cloud was reset"}
    assert plane.list_tasks({"cluster": "local"}) == {"taskArns": []}
    with pytest.raises(EcsError):
        plane.list_service_deployments({"cluster": "local", "service": "web"})
