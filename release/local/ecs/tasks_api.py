"""Tasks in the shapes of ListTasks and DescribeTasks, from what the runtime reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.local.ecs.model import TaskState

PAGE = 100


def task(state: TaskState, region: str, account: str, port: int | None = None) -> dict[str, Any]:
    """One ``Task``: statuses, health, stop code and reason, containers with exit codes and
    their loopback bindings (the service listener's port, or ``port`` when given: the test
    listener's, for a new revision's task during a progressive deployment)."""
    spec = state.spec
    body = spec.task_definition
    cluster_arn = f"arn:aws:ecs:{region}:{account}:cluster/{spec.cluster}"
    out: dict[str, Any] = {
        "taskArn": spec.task_arn, "clusterArn": cluster_arn,
        "taskDefinitionArn": str(body.get("taskDefinitionArn", "")),
        "group": f"service:{spec.service}" if spec.service else f"family:{body.get('family')}",
        "lastStatus": state.last_status, "desiredStatus": state.desired_status,
        "healthStatus": state.health_status, "launchType": "FARGATE",
        "createdAt": state.created_at, "version": 1,
        "containers": [_container(state, c.name, region, account, port)
                       for c in state.containers],
    }
    if spec.deployment_id:
        out["startedBy"] = spec.deployment_id
    for key in ("cpu", "memory"):
        if body.get(key):
            out[key] = str(body[key])
    for key, value in (("startedAt", state.started_at), ("stoppingAt", state.stopping_at),
                       ("stoppedAt", state.stopped_at),
                       ("stopCode", state.stop_code), ("stoppedReason", state.stopped_reason)):
        if value is not None:
            out[key] = value
    return out


def _container(state: TaskState, name: str, region: str, account: str,
               bound: int | None) -> dict[str, Any]:
    found = next(c for c in state.containers if c.name == name)
    task_id = state.spec.task_arn.rsplit("/", 1)[-1]
    out: dict[str, Any] = {
        "containerArn": f"arn:aws:ecs:{region}:{account}:container/{state.spec.cluster}/"
                        f"{task_id}/{name}",
        "taskArn": state.spec.task_arn, "name": name, "image": found.image,
        "lastStatus": found.last_status, "healthStatus": found.health_status,
    }
    defs = state.spec.task_definition.get("containerDefinitions") or []
    definition: Mapping[str, Any] = next((d for d in defs if d.get("name") == name), {})
    for key in ("cpu", "memory", "memoryReservation"):  # as ECS echoes them: strings
        if definition.get(key) is not None:
            out[key] = str(definition[key])
    if found.exit_code is not None:
        out["exitCode"] = found.exit_code
    if found.reason:
        out["reason"] = found.reason
    port = state.spec.host_ports.get(name)
    port = bound if port and bound else port
    if port and state.last_status == "RUNNING":
        mapping = _mapping(state.spec.task_definition, name)
        out["networkBindings"] = [{"bindIP": "127.0.0.1", "hostPort": port,
                                   "containerPort": mapping, "protocol": "tcp"}]
    return out


def _mapping(body: Mapping[str, Any], name: str) -> int:
    for container in body.get("containerDefinitions", []):
        if container.get("name") == name:
            for mapping in container.get("portMappings") or []:
                if isinstance(mapping.get("containerPort"), int):
                    return int(mapping["containerPort"])
    return 0


def list_tasks(request: Mapping[str, Any], tasks: Mapping[str, TaskState],
               cluster: str) -> dict[str, Any]:
    """ListTasks: by cluster, serviceName, desiredStatus (RUNNING unless asked), startedBy,
    with maxResults/nextToken paging."""
    wanted = str(request.get("desiredStatus") or "RUNNING")
    service = str(request.get("serviceName") or "").rsplit("/", 1)[-1]
    started_by = request.get("startedBy")
    chosen = [(arn, state) for arn, state in tasks.items()
              if state.spec.cluster == cluster and state.desired_status == wanted
              and (not service or state.spec.service == service)
              and (started_by is None or state.spec.deployment_id == started_by)]
    # newest first: a failed rollout's own tasks come before older ones
    chosen.sort(key=lambda item: item[1].stopped_at or item[1].created_at, reverse=True)
    arns = [arn for arn, _ in chosen]
    start = int(request.get("nextToken") or 0)
    size = min(int(request.get("maxResults") or PAGE), PAGE)
    page: dict[str, Any] = {"taskArns": arns[start:start + size]}
    if start + size < len(arns):
        page["nextToken"] = str(start + size)
    return page


def describe_tasks(request: Mapping[str, Any], tasks: Mapping[str, TaskState], region: str,
                   account: str, bound: Mapping[str, int] | None = None) -> dict[str, Any]:
    """DescribeTasks: the known tasks, and a MISSING failure for each other ARN."""
    found, failures = [], []
    for arn in request.get("tasks", []):
        state = tasks.get(str(arn))
        if state is None:
            failures.append({"arn": str(arn), "reason": "MISSING"})
        else:
            found.append(task(state, region, account, (bound or {}).get(str(arn))))
    return {"tasks": found, "failures": failures}
