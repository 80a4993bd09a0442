"""A service's DeploymentConfiguration: read from CreateService/UpdateService requests, and
answered back in DescribeServices and DescribeServiceDeployments (botocore's shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from release.local.ecs.model import DeploymentConfig, HookSpec

STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")


class ConfigError(ValueError):
    """A DeploymentConfiguration ECS would refuse (InvalidParameterException)."""


def _hook(raw: Mapping[str, Any]) -> HookSpec:
    kind = str(raw.get("targetType") or "AWS_LAMBDA")
    if kind not in ("AWS_LAMBDA", "PAUSE"):
        raise ConfigError(f"lifecycleHooks targetType {kind!r} is not AWS_LAMBDA or PAUSE")
    if kind == "AWS_LAMBDA" and not raw.get("hookTargetArn"):
        raise ConfigError("an AWS_LAMBDA lifecycle hook needs hookTargetArn")
    stages = tuple(str(s) for s in raw.get("lifecycleStages") or ())
    if not stages:
        raise ConfigError("a lifecycle hook needs lifecycleStages")
    timeout = raw.get("timeoutConfiguration") or {}
    action = str(timeout.get("action") or "ROLLBACK")
    return HookSpec(target_type=cast(Any, kind), stages=stages,
                    target_arn=raw.get("hookTargetArn"), role_arn=raw.get("roleArn"),
                    timeout_minutes=int(timeout.get("timeoutInMinutes") or 1440),
                    timeout_action=cast(Any, action if action == "CONTINUE" else "ROLLBACK"),
                    details=raw.get("hookDetails"))


def _percent(value: Any, low: float, what: str) -> float:
    number = float(value)
    if not low <= number <= 100.0:
        raise ConfigError(f"{what} {number} is outside {low}..100")
    return number


def _minutes(value: Any, what: str) -> int:
    number = int(value)
    if not 0 <= number <= 1440:
        raise ConfigError(f"{what} {number} is outside 0..1440")
    return number


def from_request(raw: Mapping[str, Any] | None, base: DeploymentConfig) -> DeploymentConfig:
    """DeploymentConfiguration from a request, over ``base`` (what the service had).

    Raises ConfigError for a strategy, percent or minutes ECS would refuse."""
    if not raw:
        return base
    breaker = raw.get("deploymentCircuitBreaker") or {}
    alarms = raw.get("alarms") or {}
    canary = raw.get("canaryConfiguration") or {}
    linear = raw.get("linearConfiguration") or {}
    strategy = str(raw.get("strategy") or base.strategy)
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    hooks = raw.get("lifecycleHooks")
    return DeploymentConfig(
        minimum_healthy_percent=int(raw.get("minimumHealthyPercent",
                                            base.minimum_healthy_percent)),
        maximum_percent=int(raw.get("maximumPercent", base.maximum_percent)),
        circuit_breaker=bool(breaker.get("enable", base.circuit_breaker)),
        rollback=bool(breaker.get("rollback", base.rollback)),
        strategy=cast(Any, strategy),
        bake_minutes=_minutes(raw.get("bakeTimeInMinutes", base.bake_minutes),
                              "bakeTimeInMinutes"),
        canary_percent=_percent(canary.get("canaryPercent", base.canary_percent), 0.1,
                                "canaryPercent"),
        canary_bake_minutes=_minutes(canary.get("canaryBakeTimeInMinutes",
                                                base.canary_bake_minutes),
                                     "canaryBakeTimeInMinutes"),
        step_percent=_percent(linear.get("stepPercent", base.step_percent), 3.0,
                              "stepPercent"),
        step_bake_minutes=_minutes(linear.get("stepBakeTimeInMinutes",
                                              base.step_bake_minutes), "stepBakeTimeInMinutes"),
        alarm_names=tuple(str(n) for n in alarms.get("alarmNames", base.alarm_names)),
        alarms_enabled=bool(alarms.get("enable", base.alarms_enabled)),
        alarms_rollback=bool(alarms.get("rollback", base.alarms_rollback)),
        hooks=tuple(_hook(h) for h in hooks) if isinstance(hooks, list) else base.hooks)


def _hook_answer(hook: HookSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"targetType": hook.target_type, "lifecycleStages": list(hook.stages),
                           "timeoutConfiguration": {"timeoutInMinutes": hook.timeout_minutes,
                                                    "action": hook.timeout_action}}
    for key, value in (("hookTargetArn", hook.target_arn), ("roleArn", hook.role_arn),
                       ("hookDetails", hook.details)):
        if value is not None:
            out[key] = value
    return out


def to_answer(config: DeploymentConfig) -> dict[str, Any]:
    """The DeploymentConfiguration ECS reports for ``config``."""
    out: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": config.circuit_breaker,
                                     "rollback": config.rollback},
        "maximumPercent": config.maximum_percent,
        "minimumHealthyPercent": config.minimum_healthy_percent,
        "strategy": config.strategy}
    if config.alarm_names or config.alarms_enabled:
        out["alarms"] = {"alarmNames": list(config.alarm_names),
                         "enable": config.alarms_enabled, "rollback": config.alarms_rollback}
    if config.strategy != "ROLLING":
        out["bakeTimeInMinutes"] = config.bake_minutes
    if config.strategy == "CANARY":
        out["canaryConfiguration"] = {"canaryPercent": config.canary_percent,
                                      "canaryBakeTimeInMinutes": config.canary_bake_minutes}
    if config.strategy == "LINEAR":
        out["linearConfiguration"] = {"stepPercent": config.step_percent,
                                      "stepBakeTimeInMinutes": config.step_bake_minutes}
    if config.hooks:
        out["lifecycleHooks"] = [_hook_answer(h) for h in config.hooks]
    return out
