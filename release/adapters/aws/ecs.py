"""ECS: read a service and its task definition, register, update, and wait for OUR rollout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain
from release.adapters.aws.ecs_watch import RolloutFailedError
from release.errors import ReleaseError

__all__ = ["Rollout", "RolloutFailedError", "ServiceState", "describe", "failure_details",
           "family_revisions", "register", "start_rollout"]


@dataclass(frozen=True)
class ServiceState:
    """What an ECS service runs now."""

    task_definition_arn: str
    task_definition: dict[str, Any]
    tags: dict[str, str]
    desired_count: int
    running_count: int
    rollback_on_failure: bool = False  # the deployment circuit breaker rolls back by itself
    load_balancers: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Rollout:
    """A deployment we started: its id and the task definition it rolls out."""

    deployment_id: str
    task_definition_arn: str


def describe(ecs: Any, cluster: str, service: str) -> ServiceState:
    """The service's current task definition (with tags) and counts."""
    doing = f"describe ECS service {cluster}/{service}"
    try:
        found = ecs.describe_services(cluster=cluster, services=[service])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, doing) from None
    services = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise ReleaseError(f"ECS service {service} not found in cluster {cluster}",
                           "create the service first (Terraform, CloudFormation, or "
                           "`release local up` for the local cloud), or fix ecs.service / "
                           "ecs.cluster in the environment file")
    svc = services[0]
    arn = svc["taskDefinition"]
    try:
        described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"describe task definition {arn}") from None
    tags = {t["key"]: t["value"] for t in described.get("tags", [])}
    breaker = svc.get("deploymentConfiguration", {}).get("deploymentCircuitBreaker", {})
    return ServiceState(arn, described["taskDefinition"], tags, svc.get("desiredCount", 0),
                        svc.get("runningCount", 0),
                        bool(breaker.get("enable") and breaker.get("rollback")),
                        tuple(svc.get("loadBalancers", [])))


def register(ecs: Any, task_definition: dict[str, Any]) -> str:
    """Register a task definition revision; return its ARN."""
    try:
        done = ecs.register_task_definition(**task_definition)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"register task definition {task_definition.get('family')}") from None
    return str(done["taskDefinition"]["taskDefinitionArn"])


def start_rollout(ecs: Any, cluster: str, service: str, arn: str,
                  desired_count: int | None = None) -> Rollout:
    """UpdateService to ``arn`` with a new deployment; remember that deployment's id."""
    params: dict[str, Any] = {"cluster": cluster, "service": service, "taskDefinition": arn,
                              "forceNewDeployment": True}
    if desired_count is not None:
        params["desiredCount"] = desired_count
    try:
        svc = ecs.update_service(**params)["service"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"update ECS service {cluster}/{service}") from None
    primary = [d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"]
    if not primary:
        raise ReleaseError(f"ECS returned no PRIMARY deployment for {cluster}/{service}")
    return Rollout(str(primary[0]["id"]), arn)


def family_revisions(ecs: Any, family: str) -> list[str]:
    """Every ACTIVE revision ARN of ``family``, newest first."""
    arns: list[str] = []
    token: str | None = None
    try:
        while True:
            page = ecs.list_task_definitions(familyPrefix=family, sort="DESC", status="ACTIVE",
                                             **({"nextToken": token} if token else {}))
            arns += [a for a in page.get("taskDefinitionArns", [])
                     if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
            token = page.get("nextToken")
            if not token:
                return arns
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"list task definitions of {family}") from None


def failure_details(ecs: Any, cluster: str, service: str, described: dict[str, Any], *,
                    events: int = 5, tasks: int = 5) -> str:
    """The last service events and why recent tasks stopped, for a failure's hint.

    Best effort: a failure to read them must not hide the failure being reported.
    """
    lines = [f"  {e.get('message')}" for e in described.get("events", [])[:events]]
    out = ["last service events:", *lines] if lines else []
    try:
        arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED",
                              maxResults=tasks).get("taskArns", [])
        stopped = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    except Exception:  # noqa: BLE001
        stopped = []
    reasons = []
    for task in stopped:
        exits = ", ".join(f"{c.get('name')} exit {c.get('exitCode')}"
                          + (f" ({c['reason']})" if c.get("reason") else "")
                          for c in task.get("containers", []) if "exitCode" in c or
                          c.get("reason"))
        reasons.append(f"  {task.get('taskArn', '').rsplit('/', 1)[-1]}: "
                       f"{task.get('stoppedReason', 'no reason given')}"
                       + (f"; {exits}" if exits else ""))
    if reasons:
        out += ["stopped tasks:", *reasons]
    return "\n".join(out) or ("check the service's events and stopped tasks in the ECS "
                              "console")
