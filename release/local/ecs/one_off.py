"""RunTask: a one-off task (a migration, a batch job) from a task definition, with ECS's
container overrides applied (command, environment). Pure: the plane starts
the spec on its runtime and DescribeTasks reports its exit codes and stoppedReason."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from release.local.ecs.model import TaskSpec

MAX_COUNT = 10  # RunTask's count: 1..10


class RunTaskError(ValueError):
    """A RunTask request ECS would refuse (InvalidParameterException)."""


def count(request: Mapping[str, Any]) -> int:
    """How many tasks to run (``count``, 1 by default)."""
    wanted = request.get("count", 1)
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= MAX_COUNT:
        raise RunTaskError(f"count must be an integer from 1 to {MAX_COUNT}, not {wanted!r}")
    return wanted


def _override(container: dict[str, Any], override: Mapping[str, Any]) -> None:
    command = override.get("command")
    if command is not None:
        if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
            raise RunTaskError("containerOverrides command must be a list of strings")
        container["command"] = list(command)
    extra = override.get("environment") or []
    if extra:
        merged = {e["name"]: e.get("value", "") for e in container.get("environment") or []}
        merged.update({str(e.get("name")): str(e.get("value", "")) for e in extra})
        container["environment"] = [{"name": k, "value": v} for k, v in merged.items()]


def task_definition_with(body: Mapping[str, Any],
                         overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task definition with RunTask's ``overrides.containerOverrides`` applied."""
    out = copy.deepcopy(dict(body))
    containers = {str(c.get("name")): c for c in out.get("containerDefinitions", [])}
    for override in (overrides or {}).get("containerOverrides") or []:
        name = str(override.get("name", ""))
        if name not in containers:
            raise RunTaskError(f"containerOverrides names {name!r}, which the task definition "
                               f"does not have (it has {', '.join(sorted(containers))})")
        _override(containers[name], override)
    return out


def spec(request: Mapping[str, Any], body: Mapping[str, Any], *, task_arn: str,
         cluster: str) -> TaskSpec:
    """The TaskSpec of one task RunTask starts (startedBy as asked; no service)."""
    return TaskSpec(task_arn=task_arn, cluster=cluster, service="",
                    deployment_id=str(request.get("startedBy") or ""),
                    task_definition=task_definition_with(body, request.get("overrides")))
