"""A gate before an ECS traffic move, on the wire: a one-off task from the new task
definition that must exit 0 (migrations). The smoke check is ``adapters.smoke_http``, sent
where ``ecs_smoke`` finds the route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain
from release.adapters.aws.ecs import last_log_lines
from release.errors import ReleaseError


@dataclass(frozen=True)
class TaskRun:
    """A one-off task to run: its task definition, command and where."""

    cluster: str
    task_definition: str
    container: str
    command: Sequence[str]
    network: Mapping[str, Any] | None  # the service's networkConfiguration
    timeout_seconds: float


@dataclass(frozen=True)
class TaskResult:
    """How the task ended: passed (every essential container exited 0), why, its log."""

    passed: bool
    detail: str
    log: list[str]
    task_arn: str


def _start(ecs: Any, run: TaskRun) -> str:
    params: dict[str, Any] = {
        "cluster": run.cluster, "taskDefinition": run.task_definition, "count": 1,
        "startedBy": "release", "launchType": "FARGATE",
        "overrides": {"containerOverrides": [{"name": run.container,
                                              "command": list(run.command)}]}}
    if run.network:
        params["networkConfiguration"] = dict(run.network)
    try:
        answer = ecs.run_task(**params)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"run a task of {run.task_definition}") from None
    if not answer.get("tasks"):
        why = "; ".join(f"{f.get('arn', '')}: {f.get('reason')}" for f in answer.get(
            "failures", [])) or "no task started"
        raise ReleaseError(f"RunTask started nothing: {why}",
                           "check the cluster's capacity and the task definition")
    return str(answer["tasks"][0]["taskArn"])


def _essential(ecs: Any, arn: str) -> set[str]:
    body = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return {str(c["name"]) for c in body.get("containerDefinitions", [])
            if c.get("essential", True)}


def _verdict(task: Mapping[str, Any], essential: set[str]) -> tuple[bool, str]:
    exits = {str(c.get("name")): c.get("exitCode") for c in task.get("containers", [])}
    bad = {name: exits.get(name) for name in essential if exits.get(name) != 0}
    if not bad:
        return True, "every essential container exited 0"
    said = ", ".join(f"{name} exit {code if code is not None else 'none'}"
                     for name, code in sorted(bad.items(), key=lambda kv: kv[0]))
    return False, f"{said} ({task.get('stoppedReason', 'no reason given')})"


def run_task(ecs: Any, logs: Callable[[], Any], run: TaskRun, *,
             clock: Callable[[], float], sleep: Callable[[float], None],
             every: float = 1.0) -> TaskResult:
    """RunTask, wait until it stops (stopping it at the timeout), judge its exit codes and
    read its last log lines."""
    arn = _start(ecs, run)
    deadline = clock() + run.timeout_seconds
    try:
        essential = _essential(ecs, run.task_definition)
        while True:
            task = ecs.describe_tasks(cluster=run.cluster, tasks=[arn])["tasks"][0]
            if task.get("lastStatus") == "STOPPED":
                break
            if clock() >= deadline:
                ecs.stop_task(cluster=run.cluster, task=arn, reason="release: the task ran "
                              f"longer than {run.timeout_seconds:g}s")
                return TaskResult(False, f"still running after {run.timeout_seconds:g}s: "
                                  "stopped", [], arn)
            sleep(every)
    except ReleaseError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"follow task {arn}") from None
    passed, detail = _verdict(task, essential)
    return TaskResult(passed, detail, last_log_lines(ecs, logs, task, lines=20), arn)
