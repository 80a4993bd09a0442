"""ListServiceDeployments and DescribeServiceDeployments answers from the scheduler's records:
rolling deployments (their rollout state and circuit breaker) and BLUE_GREEN, CANARY and
LINEAR ones (their lifecycle stage, traffic weights, hooks and alarms). Pure."""

from __future__ import annotations

from typing import Any

from release.local.ecs import deployment_config
from release.local.ecs.model import DeploymentRecord, Progress, ServiceRecord
from release.local.ecs.rollout import FAILED_REASON, alarm_reason, arn

_ROLLBACK_STATUS = {"IN_PROGRESS": "ROLLBACK_IN_PROGRESS", "COMPLETED": "ROLLBACK_SUCCESSFUL",
                    "FAILED": "ROLLBACK_FAILED"}
FINISHED = ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


def _status(record: ServiceRecord, d: DeploymentRecord) -> tuple[str, str, float | None]:
    """A service deployment's status, its reason and when it finished (or stopped)."""
    if d.progress is not None:
        p = d.progress
        return p.status, p.reason, p.finished_at
    why = (f"the CloudWatch alarm {', '.join(d.alarms)} went into ALARM" if d.alarms else
           "the circuit breaker threshold was exceeded")
    rollback = next((r for r in record.history if r.rollback_of == d.id), None)
    if rollback is not None:
        return (_ROLLBACK_STATUS[rollback.rollout_state], "Service deployment rolled back "
                f"because {why}.", rollback.finished_at)
    if d.rollout_state == "COMPLETED":
        return "SUCCESSFUL", "", d.finished_at
    if d.rollout_state == "FAILED":
        return "STOPPED", f"Service deployment failed because {why}.", d.finished_at
    if d.status == "PRIMARY":
        return "IN_PROGRESS", "", None
    return ("STOPPED", "Service deployment stopped: a newer service deployment replaced it.",
            d.updated_at)


def _brief(record: ServiceRecord, d: DeploymentRecord) -> dict[str, Any]:
    status, reason, finished = _status(record, d)
    answer: dict[str, Any] = {
        "serviceDeploymentArn": d.arn, "serviceArn": record.arn,
        "clusterArn": arn(record, "cluster"), "createdAt": d.created_at,
        "startedAt": d.created_at, "targetServiceRevisionArn": d.revision_arn,
        "status": status}
    if reason:
        answer["statusReason"] = reason
    if finished is not None:
        answer["finishedAt" if status in FINISHED else "stoppedAt"] = finished
    return answer


def service_deployments(record: ServiceRecord) -> list[dict[str, Any]]:
    """ListServiceDeployments' `ServiceDeploymentBrief`s, newest first (a rollback is part of
    the service deployment that failed, as in ECS)."""
    return [{k: v for k, v in _brief(record, d).items() if k != "stoppedAt"}
            for d in record.history if d.rollback_of is None]


def _revision(d: DeploymentRecord, test: float | None = None,
              production: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"arn": d.revision_arn, "requestedTaskCount": d.desired_count,
                           "runningTaskCount": d.running_count,
                           "pendingTaskCount": d.pending_count}
    if test is not None and production is not None:
        out["requestedTestTrafficWeight"] = float(test)
        out["requestedProductionTrafficWeight"] = float(production)
    return out


def _breaker(record: ServiceRecord, d: DeploymentRecord, status: str) -> dict[str, Any]:
    state = ("DISABLED" if not record.config.circuit_breaker else "TRIGGERED"
             if d.rollout_state == "FAILED" and (d.progress is None or
                                                 d.progress.failed_by == "circuit breaker")
             else "MONITORING" if status == "IN_PROGRESS" else "MONITORING_COMPLETE")
    return {"status": state, "failureCount": d.failed_tasks, "threshold": record.threshold}


def _progressive(record: ServiceRecord, d: DeploymentRecord, p: Progress,
                 answer: dict[str, Any]) -> None:
    """The lifecycle stage, weights, hooks and alarms of a BLUE_GREEN/CANARY/LINEAR one."""
    answer["lifecycleStage"] = p.stage
    answer["targetServiceRevision"] = _revision(d, p.test, p.production)
    answer["sourceServiceRevisions"] = [
        _revision(s, 100.0 - p.test, 100.0 - p.production)
        for s in record.history if s.id == p.blue]
    if p.hooks:
        answer["lifecycleHookDetails"] = [
            {"hookId": h.hook_id, "targetType": h.spec.target_type, "status": h.status,
             "expiresAt": h.expires_at, "timeoutAction": h.spec.timeout_action,
             **({"targetArn": h.spec.target_arn} if h.spec.target_arn else {})}
            for h in p.hooks]
    config = record.config
    if config.alarms_enabled:
        answer["alarms"] = {
            "status": "TRIGGERED" if p.triggered else "MONITORING"
            if p.status == "IN_PROGRESS" else "MONITORING_COMPLETE",
            "alarmNames": list(config.alarm_names), "triggeredAlarmNames": list(p.triggered)}
    else:
        answer["alarms"] = {"status": "DISABLED"}
    blue = next((s for s in record.history if s.id == p.blue), None)
    if p.rollback_started_at is not None and blue is not None:
        answer["rollback"] = {"reason": p.reason, "startedAt": p.rollback_started_at,
                              "serviceRevisionArn": blue.revision_arn}


def service_deployment(record: ServiceRecord, wanted: str) -> dict[str, Any]:
    """DescribeServiceDeployments' `ServiceDeployment` for ``wanted`` (KeyError: unknown)."""
    d = next((d for d in record.history if d.arn == wanted and d.rollback_of is None), None)
    if d is None:
        raise KeyError(wanted)
    answer = _brief(record, d)
    del answer["targetServiceRevisionArn"]
    answer.update({
        "updatedAt": d.updated_at, "targetServiceRevision": _revision(d),
        "sourceServiceRevisions": [_revision(s) for s in record.history if s.id in d.sources],
        "deploymentConfiguration": deployment_config.to_answer(record.config),
        "deploymentCircuitBreaker": _breaker(record, d, answer["status"])})
    if d.progress is not None:
        _progressive(record, d, d.progress, answer)
    else:
        _rolling_alarms(record, d, answer)
    return answer


def _rolling_alarms(record: ServiceRecord, d: DeploymentRecord, answer: dict[str, Any]) -> None:
    """A rolling deployment's alarms and rollback."""
    config = record.config
    if config.alarms_enabled:
        answer["alarms"] = {
            "status": "TRIGGERED" if d.alarms else "MONITORING"
            if answer["status"] == "IN_PROGRESS" else "MONITORING_COMPLETE",
            "alarmNames": list(config.alarm_names), "triggeredAlarmNames": list(d.alarms)}
    if d.rolled_back_to is not None and d.rollback_started_at is not None:
        answer["rollback"] = {"reason": alarm_reason(d.alarms) if d.alarms else FAILED_REASON,
                              "startedAt": d.rollback_started_at,
                              "serviceRevisionArn": d.rolled_back_to}
