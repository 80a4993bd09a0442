"""ECS: read a service and its task definition, register, update, and wait for OUR rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain
from release.errors import ReleaseError


@dataclass(frozen=True)
class ServiceState:
    """What an ECS service runs now."""

    task_definition_arn: str
    task_definition: dict[str, Any]
    tags: dict[str, str]
    desired_count: int
    running_count: int


@dataclass(frozen=True)
class Rollout:
    """A deployment we started: its id and the task definition it rolls out."""

    deployment_id: str
    task_definition_arn: str


class RolloutFailedError(ReleaseError):
    """Our deployment did not complete; the message says how it ended."""


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
    return ServiceState(arn, described["taskDefinition"], tags, svc.get("desiredCount", 0),
                        svc.get("runningCount", 0))


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


@dataclass(frozen=True)
class Wait:
    """How long and how often to poll; time is passed in so tests do not sleep."""

    deadline_seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    first_delay: float = 2.0
    max_delay: float = 15.0


def wait_for_rollout(ecs: Any, cluster: str, service: str, rollout: Rollout, wait: Wait) -> None:
    """Return when OUR deployment completed on OUR task definition; raise otherwise.

    ``services-stable`` is not enough: it succeeds after a circuit-breaker rollback too.
    """
    started = wait.clock()
    delay = wait.first_delay
    while True:
        try:
            svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"watch ECS service {cluster}/{service}") from None
        ours = [d for d in svc.get("deployments", []) if d.get("id") == rollout.deployment_id]
        if not ours:
            raise RolloutFailedError(
                f"deployment {rollout.deployment_id} is gone: rolled back by the circuit "
                f"breaker or replaced by another release; the service runs "
                f"{svc.get('taskDefinition')}",
                _events_hint(svc))
        state = ours[0].get("rolloutState")
        if state == "FAILED":
            raise RolloutFailedError(
                f"deployment {rollout.deployment_id} FAILED: "
                f"{ours[0].get('rolloutStateReason', 'no reason given')}", _events_hint(svc))
        if state == "COMPLETED" and svc.get("taskDefinition") == rollout.task_definition_arn:
            return
        if wait.clock() - started >= wait.deadline_seconds:
            raise RolloutFailedError(
                f"deployment {rollout.deployment_id} not complete after "
                f"{wait.deadline_seconds:.0f}s (state {state})", _events_hint(svc))
        wait.sleep(delay)
        delay = min(delay * 1.5, wait.max_delay)


def _events_hint(svc: dict[str, Any]) -> str:
    events = [str(e.get("message")) for e in svc.get("events", [])[:5]]
    if not events:
        return "check the service's events and stopped tasks in the ECS console"
    return "last service events:\n" + "\n".join(f"  {e}" for e in events)
