"""ECS progressive delivery, the pure part: the deploymentConfiguration UpdateService gets
for a service's ``ecs.deployment``, the words plan and diff show for it, and what a
ServiceDeployment's answer means for the release that started it (still going, paused at a
hook, waiting for our smoke check, done, or failed at a stage and why)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from release.config.model import EcsStrategy, ServiceDeployment
from release.planning.reconcile import Entry

STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP",
          "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
          "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")  # ECS's order
SMOKE_STAGE = "POST_TEST_TRAFFIC_SHIFT"  # where the release's own PAUSE hook waits for smoke
DEFAULT_STEP_MINUTES = {"canary": 10, "linear": 6}  # ECS's defaults
FAILED = {"STOPPED": "stopped", "ROLLBACK_SUCCESSFUL": "rolled back",
          "ROLLBACK_FAILED": "rollback failed", "ROLLBACK_IN_PROGRESS": "rolling back",
          "ROLLBACK_REQUESTED": "rolling back", "STOP_REQUESTED": "stopping"}


def _hooks(strategy: EcsStrategy, smoke_pause: bool) -> list[dict[str, Any]]:
    """The lifecycleHooks: the release's smoke pause first (so it is the first hook listed
    at its stage), then the configured ones."""
    hooks: list[dict[str, Any]] = []
    if smoke_pause:
        hooks.append({"targetType": "PAUSE", "lifecycleStages": [SMOKE_STAGE]})
    for hook in strategy.lifecycle_hooks:
        out: dict[str, Any] = {"lifecycleStages": list(hook.stages)}
        if hook.function_arn:
            out.update(targetType="AWS_LAMBDA", hookTargetArn=hook.function_arn,
                       roleArn=hook.role_arn)
        else:
            out["targetType"] = "PAUSE"
        if hook.timeout_minutes or hook.timeout_action:
            out["timeoutConfiguration"] = {
                k: v for k, v in (("timeoutInMinutes", hook.timeout_minutes),
                                  ("action", (hook.timeout_action or "").upper() or None))
                if v is not None}
        hooks.append(out)
    return hooks


def deployment_configuration(strategy: EcsStrategy) -> dict[str, Any]:
    """UpdateService's deploymentConfiguration for ``strategy`` (a smoke check on a
    progressive strategy adds the release's PAUSE hook at POST_TEST_TRAFFIC_SHIFT)."""
    breaker = strategy.circuit_breaker
    out: dict[str, Any] = {"strategy": strategy.strategy.upper(),
                           "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}}
    if strategy.alarms:
        out["alarms"] = {"alarmNames": list(strategy.alarms), "enable": True, "rollback": True}
    if not strategy.progressive:
        return out
    out["bakeTimeInMinutes"] = strategy.bake_minutes
    step = strategy.step_minutes
    if strategy.strategy == "canary":
        out["canaryConfiguration"] = {
            "canaryPercent": strategy.canary_percent,
            "canaryBakeTimeInMinutes": DEFAULT_STEP_MINUTES["canary"] if step is None else step}
    if strategy.strategy == "linear":
        out["linearConfiguration"] = {
            "stepPercent": strategy.step_percent,
            "stepBakeTimeInMinutes": DEFAULT_STEP_MINUTES["linear"] if step is None else step}
    hooks = _hooks(strategy, strategy.smoke is not None)
    if hooks:
        out["lifecycleHooks"] = hooks
    return out


def describe(strategy: EcsStrategy | None) -> str:
    """One line for plan and diff: the strategy, then each gate in the order it runs."""
    if strategy is None:
        return "rolling"
    minutes = strategy.step_minutes if strategy.step_minutes is not None else \
        DEFAULT_STEP_MINUTES.get(strategy.strategy, 0)
    words = {"rolling": "rolling",
             "blue_green": "blue/green",
             "canary": f"canary {strategy.canary_percent:g}%, the rest after {minutes} min",
             "linear": f"linear {strategy.step_percent:g}% every {minutes} min"}
    said = words[strategy.strategy]
    if strategy.progressive:
        said += f", bake {strategy.bake_minutes} min"
    gates = []
    if strategy.run_task:
        gates.append("run task `" + " ".join(strategy.run_task.command)[:60] + "`")
    if strategy.smoke:
        where = f" at {strategy.smoke.url.rstrip('/')}" if strategy.smoke.url else ""
        gates.append(f"smoke GET {strategy.smoke.path}{where} -> {strategy.smoke.status}")
    if strategy.alarms:
        gates.append("alarms " + ", ".join(strategy.alarms))
    hooks = [h.function_arn.rsplit(":", 1)[-1] if h.function_arn else "pause"
             for h in strategy.lifecycle_hooks]
    if hooks:
        gates.append("hooks " + ", ".join(hooks))
    if not strategy.circuit_breaker:
        gates.append("no circuit breaker")
    return said + ("; gates: " + "; ".join(gates) if gates else "")


def annotate(entries: Sequence[Entry], deployments: Mapping[str, ServiceDeployment],
             ) -> list[Entry]:
    """The plan's entries, each service with an ``ecs.deployment`` showing its strategy and
    gates in its detail."""
    def shown(entry: Entry) -> str:
        dep = deployments.get(entry.service)
        strategy = dep.ecs.deployment if dep is not None and dep.ecs is not None else None
        said = f"ecs: {describe(strategy)}" if strategy is not None else ""
        return "; ".join(s for s in (entry.detail, said) if s)
    return [dataclasses.replace(e, detail=shown(e)) for e in entries]


VerdictKind = Literal["waiting", "smoke", "paused", "successful", "failed"]


@dataclass(frozen=True)
class Verdict:
    """What our service deployment's answer means now."""

    kind: VerdictKind
    stage: str  # the lifecycle stage it is at (or ended at)
    reason: str = ""
    hook_id: str | None = None  # the hook awaiting action (smoke, paused)


def judge(found: Mapping[str, Any], *, smoke_pending: bool) -> Verdict:
    """Our deployment's DescribeServiceDeployments entry, judged. ``smoke_pending``: our
    smoke PAUSE hook has not been answered yet (the first hook awaiting at its stage)."""
    status = str(found.get("status", ""))
    stage = str(found.get("lifecycleStage", ""))
    reason = str(found.get("statusReason") or found.get("rollback", {}).get("reason") or "")
    if status == "SUCCESSFUL":
        return Verdict("successful", stage)
    if status in ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED"):
        return Verdict("failed", stage, f"{FAILED[status]}: {reason or status}")
    awaiting = [h for h in found.get("lifecycleHookDetails", [])
                if h.get("status") == "AWAITING_ACTION"]
    if status == "IN_PROGRESS" and awaiting:
        if smoke_pending and stage == SMOKE_STAGE:
            return Verdict("smoke", stage, hook_id=str(awaiting[0].get("hookId")))
        return Verdict("paused", stage, f"paused at {stage}: a pause hook awaits "
                       "`release continue` or `release stop`",
                       hook_id=str(awaiting[0].get("hookId")))
    return Verdict("waiting", stage, reason)


def reached(last: str | None, now: str) -> list[str]:
    """The stages from after ``last`` up to ``now``: ECS goes through them in order, so a
    poll that missed a short one still reports it (RECONCILE_SERVICE only when seen)."""
    if now not in STAGES:
        return [now] if now and now != last else []
    start = STAGES.index(last) + 1 if last in STAGES else int(now != STAGES[0])
    end = STAGES.index(now)
    return list(STAGES[start:end + 1]) if end >= start else []


def traffic(found: Mapping[str, Any]) -> float | None:
    """The share of production traffic on the new revision, when ECS says."""
    weight = found.get("targetServiceRevision", {}).get("requestedProductionTrafficWeight")
    return float(weight) if isinstance(weight, int | float) else None
