"""ContinueServiceDeployment, StopServiceDeployment and a Lambda hook's answer, applied to a
progressive deployment's record (release/local/ecs/progressive.py moves it on). Pure."""

from __future__ import annotations

from typing import Any

from release.local.ecs.model import DeploymentRecord, Progress, ServiceRecord, Timing
from release.local.ecs.progressive import CALLBACK_SECONDS, ENDED


class ControlError(ValueError):
    """A Continue/StopServiceDeployment ECS would refuse (``code`` is its exception)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _progress_of(record: ServiceRecord, deployment_arn: str) -> tuple[DeploymentRecord,
                                                                     Progress]:
    found = next((d for d in record.history if d.arn == deployment_arn and d.progress), None)
    if found is None or found.progress is None:
        raise ControlError("ServiceDeploymentNotFoundException",
                           f"Service deployment {deployment_arn} was not found.")
    if found.progress.status in ENDED or found is not record.primary:
        raise ControlError("InvalidParameterException", f"Service deployment {deployment_arn} "
                           f"is {found.progress.status}: it cannot be changed.")
    return found, found.progress


def stop(record: ServiceRecord, deployment_arn: str, stop_type: str) -> None:
    """StopServiceDeployment: ROLLBACK puts the traffic back on blue and stops green (ending
    ROLLBACK_SUCCESSFUL); ABORT does the same and ends STOPPED."""
    _, p = _progress_of(record, deployment_arn)
    if p.status != "IN_PROGRESS":
        raise ControlError("ConflictException", f"Service deployment {deployment_arn} is "
                           f"{p.status} already.")
    if stop_type == "ROLLBACK":
        p.status, p.reason = "ROLLBACK_REQUESTED", "StopServiceDeployment asked for a rollback."
    else:
        p.status, p.reason = "STOP_REQUESTED", "StopServiceDeployment aborted the deployment."


def continue_(record: ServiceRecord, deployment_arn: str, hook_id: str, action: str) -> None:
    """ContinueServiceDeployment: resolve the hook ``hook_id`` awaiting action (CONTINUE
    lets the deployment go on; ROLLBACK rolls it back)."""
    _, p = _progress_of(record, deployment_arn)
    hook = next((h for h in p.hooks if h.hook_id == hook_id), None)
    if hook is None or hook.status not in ("AWAITING_ACTION", "IN_PROGRESS"):
        raise ControlError("InvalidParameterException", f"No lifecycle hook {hook_id} awaits "
                           f"action in {deployment_arn}.")
    if action == "ROLLBACK":
        hook.status = "FAILED"
        hook.answer = "ContinueServiceDeployment asked for a rollback"
    else:
        hook.status = "SUCCEEDED"


def hook_answered(record: ServiceRecord, hook: tuple[str, str], answer: Any, *, now: float,
                  timing: Timing) -> None:
    """A Lambda hook's invocation came back: ``answer`` is its decoded payload, or a string
    saying why the invoke failed. SUCCEEDED goes on, IN_PROGRESS is invoked again after
    ``callBackDelay`` seconds (scaled like minutes), anything else fails the hook.
    ``hook`` is (the deployment's id, the hook's id)."""
    deployment_id, hook_id = hook
    green = next((d for d in record.deployments if d.id == deployment_id), None)
    p = green.progress if green else None
    run = next((h for h in p.hooks if h.hook_id == hook_id), None) if p else None
    if run is None or run.status != "IN_PROGRESS":
        return  # the stage moved on (or the deployment ended) meanwhile
    run.invoking = False
    status = answer.get("hookStatus") if isinstance(answer, dict) else None
    if status == "SUCCEEDED":
        run.status = "SUCCEEDED"
    elif status == "IN_PROGRESS":
        delay = answer.get("callBackDelay", CALLBACK_SECONDS)
        seconds = float(delay) if isinstance(delay, int | float) else CALLBACK_SECONDS
        run.next_invoke_at = now + timing.minutes(max(0.0, seconds) / 60.0)
        if "hookDetails" in answer:
            run.details = answer["hookDetails"]
    else:
        run.status = "FAILED"
        run.answer = (f"it answered hookStatus {status}" if status == "FAILED" else
                      str(answer)[:200] if isinstance(answer, str) else
                      f"its answer has no valid hookStatus: {str(answer)[:160]}")
