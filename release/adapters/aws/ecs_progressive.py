"""ECS progressive delivery on the wire: start a service deployment with a strategy, find
the one WE started, follow it through its lifecycle stages (printing each as it is reached),
answer our smoke hook, and continue or stop a paused one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from release.adapters.aws.clients import explain
from release.errors import ReleaseError
from release.planning import ecs_strategy

SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
SLACK_SECONDS = 60.0  # clock skew allowed when matching a deployment's createdAt


@dataclass(frozen=True)
class Started:
    """The service deployment we started."""

    arn: str
    task_definition: str
    started_at: float


@dataclass
class Followed:
    """How our service deployment went: the stages it reached and how it ended."""

    verdict: ecs_strategy.Verdict
    stages: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    weight: float = 0.0  # the last share of production traffic logged


@dataclass(frozen=True)
class Pace:
    """Clock and sleep, the polling period, and the deadline."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    every: float = 1.0
    deadline_seconds: float = 900.0


def start(ecs: Any, cluster: str, service: str, arn: str, *, configuration: dict[str, Any],
          desired_count: int | None, clock: Callable[[], float]) -> Started:
    """UpdateService to ``arn`` with ``configuration``, and find the service deployment it
    began: UpdateService's currentServiceDeployment, checked against ListServiceDeployments
    (created since we asked, targeting our revision's service)."""
    began = clock()
    params: dict[str, Any] = {"cluster": cluster, "service": service, "taskDefinition": arn,
                              "forceNewDeployment": True,
                              "deploymentConfiguration": configuration}
    if desired_count is not None:
        params["desiredCount"] = desired_count
    try:
        answer = ecs.update_service(**params)["service"]
        listed = ecs.list_service_deployments(cluster=cluster, service=service)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"update ECS service {cluster}/{service}") from None
    current = answer.get("currentServiceDeployment")
    recent = [d for d in listed.get("serviceDeployments", [])
              if _seconds(d.get("createdAt")) >= began - SLACK_SECONDS]
    ours = next((d for d in recent if d.get("serviceDeploymentArn") == current), None)
    if ours is None and recent:
        ours = recent[0]  # newest first
    if ours is None:
        raise ReleaseError(f"ECS started no service deployment for {cluster}/{service}",
                           "check the service's events in the ECS console")
    return Started(str(ours["serviceDeploymentArn"]), arn, began)


def _seconds(value: Any) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value) if isinstance(value, int | float) else 0.0


def describe(ecs: Any, deployment_arn: str) -> dict[str, Any]:
    """DescribeServiceDeployments of one deployment."""
    try:
        found = ecs.describe_service_deployments(serviceDeploymentArns=[deployment_arn])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"describe service deployment {deployment_arn}") from None
    if not found.get("serviceDeployments"):
        raise ReleaseError(f"service deployment {deployment_arn} is gone",
                           "was the service deleted? check the cluster")
    return dict(found["serviceDeployments"][0])


def _note(found: dict[str, Any], followed: Followed, log: Callable[[str], None],
          name: str) -> None:
    """Log each stage reached since the last poll and, at PRODUCTION_TRAFFIC_SHIFT, each new
    share of production traffic on the new revision."""
    stage = str(found.get("lifecycleStage") or "")
    weight = ecs_strategy.traffic(found) or 0.0

    def shift() -> None:
        if weight and weight != followed.weight:
            followed.weight = weight
            followed.stages.append(f"{SHIFT} ({weight:g}% of production traffic on the new "
                                   "revision)")
            log(f"{name}: {followed.stages[-1]}")

    last = followed.stages[-1].split(" ", 1)[0] if followed.stages else None
    passed = ecs_strategy.reached(last, stage)
    if SHIFT not in passed and stage in ecs_strategy.STAGES[ecs_strategy.STAGES.index(SHIFT):]:
        shift()  # still shifting, or the last share before the stage moved on
    for reached in passed:
        followed.stages.append(reached)
        log(f"{name}: {reached}")
        if reached == SHIFT:
            shift()


def follow(ecs: Any, started: Started, *, name: str, pace: Pace,
           log: Callable[[str], None],
           smoke: Callable[[], tuple[bool, str]] | None = None) -> Followed:
    """Poll our deployment until it ends, pauses at a hook, or the deadline passes. At our
    smoke hook, ``smoke()`` runs: passing continues the deployment, failing rolls it back."""
    followed = Followed(ecs_strategy.Verdict("waiting", ""))
    deadline = pace.clock() + pace.deadline_seconds
    smoke_pending = smoke is not None
    while True:
        found = describe(ecs, started.arn)
        _note(found, followed, log, name)
        verdict = ecs_strategy.judge(found, smoke_pending=smoke_pending)
        if verdict.kind == "smoke" and smoke is not None and verdict.hook_id:
            smoke_pending = False
            passed, detail = smoke()
            followed.gates.append(f"smoke {'passed' if passed else 'FAILED'}: {detail}")
            log(f"{name}: smoke check {'passed' if passed else 'failed'}: {detail}")
            act(ecs, started.arn, verdict.hook_id, "CONTINUE" if passed else "ROLLBACK")
            continue
        if verdict.kind in ("successful", "failed", "paused"):
            followed.verdict = verdict
            return followed
        if pace.clock() >= deadline:
            followed.verdict = ecs_strategy.Verdict(
                "failed", verdict.stage, f"not done after {pace.deadline_seconds:g}s "
                f"(at {verdict.stage or 'its start'})")
            return followed
        pace.sleep(pace.every)


def act(ecs: Any, deployment_arn: str, hook_id: str, action: str) -> None:
    """ContinueServiceDeployment: CONTINUE or ROLLBACK at a hook awaiting action."""
    try:
        ecs.continue_service_deployment(serviceDeploymentArn=deployment_arn, hookId=hook_id,
                                        action=action)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"continue service deployment {deployment_arn}") from None


def stop(ecs: Any, deployment_arn: str, *, rollback: bool) -> None:
    """StopServiceDeployment with stopType ROLLBACK or ABORT."""
    try:
        ecs.stop_service_deployment(serviceDeploymentArn=deployment_arn,
                                    stopType="ROLLBACK" if rollback else "ABORT")
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"stop service deployment {deployment_arn}") from None


def under_way(ecs: Any, cluster: str, service: str) -> Started:
    """The service's deployment in progress (for `release continue` / `release stop`)."""
    try:
        listed = ecs.list_service_deployments(cluster=cluster, service=service,
                                              status=["IN_PROGRESS"])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"list service deployments of {cluster}/{service}") from None
    found = listed.get("serviceDeployments", [])
    if not found:
        raise ReleaseError(f"ECS service {cluster}/{service} has no deployment in progress",
                           "nothing to continue or stop: `release status` shows what runs")
    return Started(str(found[0]["serviceDeploymentArn"]), "", _seconds(found[0].get(
        "createdAt")))
