"""Hostile task definitions given to the local ECS runtime (dependsOn, timeouts, cpu/memory,
Linux options): out-of-range numbers, booleans for numbers, capabilities Fargate refuses,
tmpfs options that smuggle in others, cycles. Each fails the task before any container or
sandbox exists, with a ClientException naming the field; none reaches the engine."""

from __future__ import annotations

from typing import Any

import pytest

from release.local.ecs import startup
from release.local.ecs.launching import StartFailedError
from release.local.ecs.model import TaskSpec

ARN = "arn:aws:ecs:eu-west-1:123456789012:task/demo/0123456789abcdef0123456789abcdef"


def _spec(containers: list[dict[str, Any]], **task: Any) -> TaskSpec:
    return TaskSpec(task_arn=ARN, cluster="demo", service="web", deployment_id="ecs-svc/1",
                    task_definition={"family": "web", **task, "containerDefinitions": [
                        {"image": "x", **c} for c in containers]})


def _app(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "app", **fields}]


def _linux(**fields: Any) -> list[dict[str, Any]]:
    return _app(linuxParameters=fields)


CASES = [
    ("stop-timeout-over-fargate-max", _app(stopTimeout=121), {}, "stopTimeout is 121"),
    ("stop-timeout-huge", _app(stopTimeout=10**12), {}, "0 to 120"),
    ("stop-timeout-negative", _app(stopTimeout=-1), {}, "0 to 120"),
    ("stop-timeout-boolean", _app(stopTimeout=True), {}, "stopTimeout is True"),
    ("stop-timeout-text", _app(stopTimeout="30"), {}, "stopTimeout is '30'"),
    ("start-timeout-float", _app(startTimeout=1.5), {}, "startTimeout is 1.5"),
    ("memory-below-docker-minimum", _app(memory=1), {}, "the least is 6 MiB"),
    ("memory-negative", _app(memory=-512), {}, "memory is -512"),
    ("memory-boolean", _app(memory=True), {}, "memory is True"),
    ("reservation-above-limit", _app(memory=64, memoryReservation=65), {},
     "more than its memory"),
    ("containers-above-task-memory", _app(memory=2048), {"memory": "1024"}, "add up to 2048"),
    ("task-memory-words", _app(), {"memory": "all of it"}, "memory is 'all of it'"),
    ("task-cpu-negative", _app(), {"cpu": "-256"}, "cpu is '-256'"),
    ("capability-escalation", _linux(capabilities={"add": ["SYS_ADMIN"]}), {},
     "adds the capabilities 'SYS_ADMIN'"),
    ("capability-all", _linux(capabilities={"add": ["ALL"]}), {}, "only SYS_PTRACE"),
    ("tmpfs-relative-path", _linux(tmpfs=[{"containerPath": "tmp", "size": 8}]), {},
     "absolute containerPath"),
    ("tmpfs-option-smuggles-exec", _linux(tmpfs=[{"containerPath": "/t", "size": 8,
                                                 "mountOptions": ["noexec,exec"]}]), {},
     "without commas"),
    ("tmpfs-control-character", _linux(tmpfs=[{"containerPath": "/t\n", "size": 8}]), {},
     "control characters"),
    ("tmpfs-size-zero", _linux(tmpfs=[{"containerPath": "/t", "size": 0}]), {}, "size is 0"),
    ("ulimit-soft-above-hard", _app(ulimits=[{"name": "nofile", "softLimit": 10,
                                              "hardLimit": 5}]), {}, "soft <= hard"),
    ("ulimit-text", _app(ulimits=[{"name": "nofile", "softLimit": "many",
                                   "hardLimit": 5}]), {}, "whole numbers"),
    ("depends-on-itself", _app(dependsOn=[{"containerName": "app", "condition": "START"}]), {},
     "not another container"),
    ("depends-on-unknown-condition", [
        {"name": "a"}, {"name": "b", "dependsOn": [{"containerName": "a",
                                                    "condition": "START\n::error::x"}]}], {},
     "ECS takes START"),
    ("depends-on-cycle", [
        {"name": "a", "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "dependsOn": [{"containerName": "a", "condition": "START"}]}], {},
     "form a cycle"),
]


@pytest.mark.parametrize(("containers", "task", "message"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_hostile_task_definition_fails_before_any_container(
    containers: list[dict[str, Any]], task: dict[str, Any], message: str
) -> None:
    with pytest.raises(StartFailedError) as failed:
        startup.check(_spec(containers, **task))
    assert failed.value.reason.startswith("ClientException: ")
    assert message in failed.value.reason
    assert "\n" not in failed.value.reason  # no forged log line


def test_what_fargate_allows_passes() -> None:
    startup.check(_spec(_app(stopTimeout=120, startTimeout=0, memory=6,
                             linuxParameters={"capabilities": {"add": ["SYS_PTRACE"],
                                                               "drop": ["ALL"]},
                                              "initProcessEnabled": True}),
                        cpu="256", memory="512"))
