"""ECS's BLUE_GREEN, CANARY and LINEAR deployments as pure logic (no I/O, no clock).

The new revision (green) scales up to the full desired count beside the old one (blue), takes
the test traffic, then production traffic (all at once; a canary share then the rest; or
linear steps) with bakes between, bakes, and the blue tasks stop (CLEAN_UP). Lifecycle hooks
run at their stages (a Lambda answering IN_PROGRESS is invoked again after its callBackDelay; a
PAUSE hook waits for ContinueServiceDeployment); the circuit breaker, an alarm in ALARM, a
failed or timed-out hook, or StopServiceDeployment roll the traffic back to blue and stop
green. The plane aims the listeners from ``Progress.production`` and ``Progress.test``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from release.local.ecs import rollout
from release.local.ecs.model import (
    Action,
    DeploymentRecord,
    HookRun,
    InvokeHook,
    Progress,
    ServiceRecord,
    StartTask,
    TaskState,
    Timing,
)

STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP",
          "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
          "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")
# alarms are watched from the moment green runs until the bake ends
WATCHED = frozenset(STAGES[STAGES.index("SCALE_UP"):STAGES.index("CLEAN_UP")])
ENDED = frozenset({"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})
CALLBACK_SECONDS = 30.0  # ECS invokes an IN_PROGRESS hook again after this (callBackDelay)
PRE_PRODUCTION = "PRE_PRODUCTION_TRAFFIC_SHIFT"  # a hook stage run before the first shift
Observed = dict[str, TaskState]


@dataclass
class _Pass:
    """One pass over one service: what every step of it reads and adds to."""

    record: ServiceRecord
    green: DeploymentRecord
    p: Progress
    now: float
    timing: Timing
    new_task_arn: Callable[[], str]
    actions: list[Action] = field(default_factory=list)


def begin(record: ServiceRecord, now: float) -> None:
    """Make the PRIMARY deployment that ``rollout.update`` just created a progressive one.
    Blue is the deployment that last completed; one still in progress is replaced (STOPPED,
    its tasks stopped by the next ``step``)."""
    green = record.primary
    for old in record.deployments[1:]:
        if old.progress is not None and old.progress.status not in ENDED:
            old.progress.status = "STOPPED"
            old.progress.reason = ("Service deployment stopped: a newer service deployment "
                                   f"({green.arn.rsplit('/', 1)[-1]}) replaced it.")
            old.progress.finished_at = now
            old.rollout_state = "FAILED"
    blue = next((d for d in record.deployments[1:] if d.rollout_state == "COMPLETED"), None)
    green.progress = Progress(strategy=record.config.strategy,
                              blue=blue.id if blue else None, stage=STAGES[0], stage_at=now,
                              stages_seen=[STAGES[0]])
    green.rollout_state_reason = f"ECS deployment {green.id} in progress: {STAGES[0]}."


def active(record: ServiceRecord) -> bool:
    """Whether the service's PRIMARY deployment is a progressive one still under way."""
    progress = record.primary.progress if record.deployments else None
    return progress is not None and progress.status not in ENDED


def watched_alarms(record: ServiceRecord) -> tuple[str, ...]:
    """The alarm names to read now (none outside the watched stages or without alarms)."""
    p = record.primary.progress if record.deployments else None
    if p is None or p.status != "IN_PROGRESS" or p.stage not in WATCHED:
        return ()
    return record.config.alarm_names if record.config.alarms_enabled else ()


def _blue(record: ServiceRecord, p: Progress) -> DeploymentRecord | None:
    return next((d for d in record.deployments if d.id == p.blue), None)


def _enter(record: ServiceRecord, green: DeploymentRecord, p: Progress, stage: str,
           now: float) -> None:
    p.stage, p.stage_at, p.shift_at = stage, now, None
    p.stages_seen.append(stage)
    green.updated_at = now
    green.rollout_state_reason = f"ECS deployment {green.id} in progress: {stage}."
    rollout._event(record, now, f"(service {record.name}) (deployment {green.id}) "
                   f"lifecycle stage {stage}.")


def _fail(record: ServiceRecord, green: DeploymentRecord, p: Progress, now: float, *,
          by: str, reason: str, rollback: bool = True) -> None:
    """Something failed: roll the traffic back to blue (or, without rollback, stop)."""
    p.failed_by, p.reason = by, reason
    p.production = p.test = 0.0
    p.shift_at = None
    if rollback and _blue(record, p) is not None:
        p.status, p.rollback_started_at = "ROLLBACK_IN_PROGRESS", now
        blue = _blue(record, p)
        green.rolled_back_to = blue.revision_arn if blue else None
        green.rollback_started_at = now
        rollout._event(record, now, f"(service {record.name}) deployment {green.id} "
                       f"rolling back: {reason}")
    elif rollback:
        p.status, p.finished_at = "ROLLBACK_FAILED", now
        p.reason = f"{reason} There is no earlier service revision to roll back to."
        green.rollout_state = "FAILED"
    else:
        p.status = "STOP_REQUESTED"


def _hook_payload(record: ServiceRecord, green: DeploymentRecord, p: Progress,
                  hook: HookRun) -> dict[str, Any]:
    """What ECS passes a hook's function (its execution details for the stage)."""
    blue = _blue(record, p)
    weights = {green.revision_arn: p.production}
    tests = {green.revision_arn: p.test}
    if blue is not None:
        weights[blue.revision_arn] = 100.0 - p.production
        tests[blue.revision_arn] = 100.0 - p.test
    payload: dict[str, Any] = {
        "executionDetails": {"serviceArn": record.arn,
                             "targetServiceRevisionArn": green.revision_arn,
                             "testTrafficWeights": tests, "productionTrafficWeights": weights},
        "executionId": hook.hook_id, "lifecycleStage": hook.stage,
        "resourceArn": green.arn}
    if hook.details is not None:
        payload["hookDetails"] = hook.details
    return payload


def _hooks_done(run: _Pass, stage: str) -> bool:
    """Run the hooks of ``stage``; True once every one SUCCEEDED (or timed out to CONTINUE)."""
    record, green, p, now, timing = run.record, run.green, run.p, run.now, run.timing
    if p.hooks_for != stage:
        p.hooks_for = stage
        p.hooks = [HookRun(hook_id=str(uuid.uuid4()), spec=spec, stage=stage,
                           expires_at=now + timing.minutes(spec.timeout_minutes),
                           status="AWAITING_ACTION" if spec.target_type == "PAUSE"
                           else "IN_PROGRESS", details=spec.details)
                   for spec in record.config.hooks if stage in spec.stages]
    for hook in p.hooks:
        if hook.status in ("IN_PROGRESS", "AWAITING_ACTION") and now >= hook.expires_at:
            hook.status = "TIMED_OUT"
            if hook.spec.timeout_action == "ROLLBACK":
                _fail(record, green, p, now, by="hook", reason=f"Lifecycle hook {_name(hook)} "
                      f"timed out at {stage}.")
                return False
        if (hook.status == "IN_PROGRESS" and hook.spec.target_arn and not hook.invoking
                and now >= hook.next_invoke_at):
            hook.invoking = True
            run.actions.append(InvokeHook(green.id, hook.hook_id, hook.spec.target_arn,
                                      _hook_payload(record, green, p, hook)))
    return all(h.status == "SUCCEEDED" or (h.status == "TIMED_OUT" and
                                           h.spec.timeout_action == "CONTINUE")
               for h in p.hooks)


def _name(hook: HookRun) -> str:
    return hook.spec.target_arn or f"PAUSE ({hook.hook_id})"


def _next_weight(record: ServiceRecord, p: Progress) -> float:
    config = record.config
    if p.strategy == "CANARY" and p.production == 0.0:
        return config.canary_percent
    if p.strategy == "LINEAR":
        return min(100.0, round(p.production + config.step_percent, 1))
    return 100.0


def _shift(record: ServiceRecord, green: DeploymentRecord, p: Progress, now: float,
           timing: Timing) -> bool:
    """Move production traffic one step when due; True once green takes all of it."""
    if p.production >= 100.0:
        return True
    if p.shift_at is not None and now < p.shift_at:
        return False
    p.production = _next_weight(record, p)
    green.updated_at = now
    rollout._event(record, now, f"(service {record.name}) (deployment {green.id}) "
                   f"production traffic {p.production:g}% on the new revision.")
    bake = (record.config.canary_bake_minutes if p.strategy == "CANARY"
            else record.config.step_bake_minutes)
    p.shift_at = now + timing.minutes(bake)
    return p.production >= 100.0


def _work_done(run: _Pass) -> bool:
    """Do the current stage's work; True once it is done."""
    record, green, p, now, timing = run.record, run.green, run.p, run.now, run.timing
    actions = run.actions
    if p.stage == "SCALE_UP":
        live = rollout._live(record, green.id)
        for _ in range(max(0, record.desired_count - len(live))):
            task = run.new_task_arn()
            record.tasks[task] = (green.id, None)
            record.asked_at[task] = now
            actions.append(StartTask(task, green.id, green.task_definition))
        live = rollout._live(record, green.id)
        return len(rollout._healthy(record, live)) >= record.desired_count
    if p.stage == "TEST_TRAFFIC_SHIFT":
        p.test = 100.0
        return True
    if p.stage == "PRODUCTION_TRAFFIC_SHIFT":
        if p.production == 0.0 and not _hooks_done(run, PRE_PRODUCTION):
            return False
        return _shift(record, green, p, now, timing)
    if p.stage == "BAKE_TIME":
        return now >= p.stage_at + timing.minutes(record.config.bake_minutes)
    if p.stage == "CLEAN_UP":
        others = [a for a in rollout._live(record) if record.tasks[a][0] != green.id]
        rollout._stop(record, others, "ServiceSchedulerInitiated",
                      f"Scaling activity initiated by (deployment {green.id})", actions)
        return not [a for a in record.tasks if record.tasks[a][0] != green.id]
    return True


def _succeed(record: ServiceRecord, green: DeploymentRecord, p: Progress, now: float) -> None:
    p.status, p.finished_at = "SUCCESSFUL", now
    p.reason = ""
    green.rollout_state = "COMPLETED"
    green.rollout_state_reason = f"ECS deployment {green.id} completed."
    green.finished_at = green.updated_at = now
    for old in record.deployments[1:]:
        old.status, old.updated_at = "INACTIVE", now
    del record.deployments[1:]
    rollout._event(record, now, f"(service {record.name}) (deployment {green.id}) "
                   "deployment completed.")


def _advance(run: _Pass) -> None:
    """Go through as many stages as are done now."""
    p = run.p
    for _ in STAGES:
        if not _work_done(run) or p.status != "IN_PROGRESS" or not _hooks_done(run, p.stage):
            return
        if p.stage == STAGES[-1]:
            _succeed(run.record, run.green, p, run.now)
            return
        _enter(run.record, run.green, p, STAGES[STAGES.index(p.stage) + 1], run.now)


def _unwind(record: ServiceRecord, green: DeploymentRecord, p: Progress, now: float,
            actions: list[Action]) -> None:
    """Rolling back or stopping: green's tasks stop; once gone, blue is PRIMARY again."""
    rollout._stop(record, rollout._live(record, green.id), "ServiceSchedulerInitiated",
                  f"Service deployment {p.status.lower().replace('_', ' ')}: {p.reason}",
                  actions)
    if any(dep == green.id for dep, _ in record.tasks.values()):
        return
    p.status = "ROLLBACK_SUCCESSFUL" if p.status == "ROLLBACK_IN_PROGRESS" else "STOPPED"
    p.finished_at = green.finished_at = green.updated_at = now
    green.rollout_state, green.status = "FAILED", "INACTIVE"
    green.rollout_state_reason = p.reason
    blue = _blue(record, p)
    record.deployments.remove(green)
    if blue is not None:
        record.deployments.remove(blue)
        record.deployments.insert(0, blue)
        blue.status = "PRIMARY"
    record.steady = False
    rollout._event(record, now, f"(service {record.name}) deployment {green.id} "
                   f"{p.status.lower().replace('_', ' ')}.")


def _check(run: _Pass, firing: Collection[str]) -> None:
    """Turn requests, the circuit breaker and alarms into a rollback or a stop."""
    record, green, p, now, timing = run.record, run.green, run.p, run.now, run.timing
    config = record.config
    if p.status == "ROLLBACK_REQUESTED":
        _fail(record, green, p, now, by="user", reason=p.reason or "Rollback requested.")
    elif p.status == "STOP_REQUESTED" and p.failed_by is None:
        _fail(record, green, p, now, by="user", reason=p.reason or "Stop requested.",
              rollback=False)
    if p.status != "IN_PROGRESS":
        return
    if config.circuit_breaker and green.failed_tasks >= timing.failed_task_threshold:
        green.rollout_state = "FAILED"
        _fail(record, green, p, now, by="circuit breaker", rollback=config.rollback,
              reason="Service deployment failed because the circuit breaker threshold was "
                     "exceeded.")
        return
    fired = tuple(n for n in config.alarm_names if n in firing) if p.stage in WATCHED else ()
    if fired and config.alarms_enabled:
        p.triggered = fired
        _fail(record, green, p, now, by="alarm", rollback=config.alarms_rollback,
              reason=f"CloudWatch alarm {', '.join(fired)} went into ALARM during "
                     f"{p.stage}.")
        return
    failed = next((h for h in p.hooks if h.status == "FAILED"), None)
    if failed is not None:
        _fail(record, green, p, now, by="hook", reason=f"Lifecycle hook {_name(failed)} "
              f"failed at {failed.stage}{': ' + failed.answer if failed.answer else '.'}")


def _retire(record: ServiceRecord, green: DeploymentRecord, p: Progress, now: float,
            actions: list[Action]) -> None:
    """Stop the tasks of deployments that are neither green nor blue (one replaced)."""
    keep = {green.id, p.blue}
    stale = [a for a in rollout._live(record) if record.tasks[a][0] not in keep]
    rollout._stop(record, stale, "ServiceSchedulerInitiated",
                  f"Scaling activity initiated by (deployment {green.id})", actions)
    for old in [d for d in record.deployments if d.id not in keep]:
        if not any(dep == old.id for dep, _ in record.tasks.values()):
            old.status, old.updated_at = "INACTIVE", now
            record.deployments.remove(old)


def step(record: ServiceRecord, observed: Observed, now: float, timing: Timing, *,
         new_task_arn: Callable[[], str], firing: Collection[str] = ()) -> list[Action]:
    """One pass over a service whose PRIMARY is a progressive deployment under way:
    ``firing`` holds the names of the watched alarms now in ALARM."""
    actions: list[Action] = []
    record.threshold = timing.failed_task_threshold
    rollout._observe(record, observed, now, timing, actions)
    green = record.primary
    p = green.progress
    if p is None:
        return actions
    run = _Pass(record, green, p, now, timing, new_task_arn, actions)
    _retire(record, green, p, now, actions)
    _check(run, firing)
    if p.status == "IN_PROGRESS":
        _advance(run)
    if p.status in ("ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"):
        _unwind(record, green, p, now, actions)
    rollout._count(record, now)
    return actions

