"""An ECS service's release with ``ecs.deployment``: the gates and the traffic move, in order.

1. ``before_traffic.run_task``: a one-off task from the NEW task definition (the service's
   network); any essential container not exiting 0 stops this service's release before any
   traffic moves, the service left as it was.
2. The traffic move. blue_green, canary, linear: UpdateService with the strategy, then OUR
   service deployment followed stage by stage; a smoke check answers the release's own
   pause hook at POST_TEST_TRAFFIC_SHIFT against the test URL (pass: CONTINUE; fail:
   ROLLBACK); ECS watches the alarms until the bake ends. rolling: the rollout as before
   (with the circuit breaker and alarms in its deploymentConfiguration), then the smoke
   check against the service URL, the previous revision put back when it fails.
Success is our deployment SUCCESSFUL; anything else fails, saying the stage reached, why,
and which gate failed.
"""

from __future__ import annotations

from release.adapters import smoke_http
from release.adapters.aws import ecs, ecs_gates, ecs_progressive, ecs_rollout, ecs_smoke
from release.config.model import EcsDeployment, EcsStrategy, ServiceDeployment
from release.engine.context import Context
from release.engine.targets.base import Done
from release.errors import ReleaseError
from release.planning import ecs_strategy, rollout
from release.planning.listener_rules import SmokeRequest, Unroutable

POLL_SECONDS = 0.5  # DescribeServiceDeployments of one deployment: cheap, and stages are short


class DeliveryFailedError(ReleaseError):
    """The service's release failed at a gate or a stage; ``progress`` says how far it got."""

    def __init__(self, message: str, hint: str | None, progress: tuple[str, ...],
                 rolled_back_to: str | None = None) -> None:
        super().__init__(message, hint)
        self.progress = progress
        self.rolled_back_to = rolled_back_to


def _run_task(ctx: Context, dep: ServiceDeployment, ecs_dep: EcsDeployment, arn: str,
              network: object) -> str:
    """The migration gate: its result line, or DeliveryFailedError (nothing moved)."""
    gate = ecs_dep.deployment.run_task if ecs_dep.deployment else None
    assert gate is not None  # noqa: S101 - the caller checks
    container = gate.container or ecs_dep.container or dep.name
    shown = " ".join(gate.command)
    ctx.log(f"{dep.name}: gate run_task: `{shown}` in {container} of "
            f"{rollout.revision(arn)}")
    result = ecs_gates.run_task(
        ctx.client("ecs"), lambda: ctx.client("logs"),
        ecs_gates.TaskRun(ecs_dep.cluster, arn, container, gate.command,
                          network if isinstance(network, dict) else None,
                          gate.timeout_seconds), clock=ctx.clock, sleep=ctx.sleep)
    for line in result.log:
        ctx.log(f"{dep.name}:   {line}")
    line = f"run_task {'passed' if result.passed else 'FAILED'}: {result.detail}"
    if not result.passed:
        raise DeliveryFailedError(
            f"{dep.name}: gate run_task failed before any traffic moved: {result.detail}",
            "the service was left as it was; the task's last log lines are above "
            f"(task {result.task_arn.rsplit('/', 1)[-1]})", (line,))
    return line


def _smoke(ctx: Context, request: SmokeRequest | Unroutable,
           strategy: EcsStrategy) -> tuple[bool, str]:
    check = strategy.smoke
    assert check is not None  # noqa: S101
    if isinstance(request, Unroutable):
        return False, f"no URL to check: {request.reason} (fix: {request.hint})"
    passed, detail = smoke_http.smoke(request, check, clock=ctx.clock, sleep=ctx.sleep)
    return passed, f"{detail} at {request.described}"


def _progressive(ctx: Context, dep: ServiceDeployment, ecs_dep: EcsDeployment, arn: str,
                 gates: list[str]) -> Done:
    strategy = ecs_dep.deployment
    assert strategy is not None  # noqa: S101
    client = ctx.client("ecs")
    started = ecs_progressive.start(
        client, ecs_dep.cluster, ecs_dep.service, arn,
        configuration=ecs_strategy.deployment_configuration(strategy),
        desired_count=ecs_dep.desired_count, clock=ctx.clock)
    ctx.log(f"{dep.name}: service deployment {started.arn.rsplit('/', 1)[-1]} of "
            f"{rollout.revision(arn)} started: {ecs_strategy.describe(strategy)}")
    followed = ecs_progressive.follow(
        client, started, name=dep.name, log=ctx.log,
        pace=ecs_progressive.Pace(ctx.clock, ctx.sleep, POLL_SECONDS, ecs_dep.deadline_seconds),
        smoke=(lambda: _smoke(ctx, ecs_smoke.test_request(
            ctx.client, ecs_dep.cluster, ecs_dep.service, arn, check), strategy))
        if (check := strategy.smoke) else None)
    progress = (*gates, *followed.gates, "stages: " + " -> ".join(followed.stages))
    verdict = followed.verdict
    if verdict.kind == "successful":
        described = ecs.describe_services(client, ecs_dep.cluster, [ecs_dep.service])
        found = described.get(ecs_dep.service)
        return Done(updated=True, arn=arn, progress=progress,
                    detail="revision " + arn.rsplit(":", 1)[-1],
                    reach=(ecs_dep.cluster, found) if found else None)
    if verdict.kind == "paused":
        ctx.log(f"{dep.name}: {verdict.reason}")
        return Done(updated=True, arn=arn, progress=progress, status="paused",
                    detail=f"revision {arn.rsplit(':', 1)[-1]}, paused at {verdict.stage}")
    failed_gate = _failed_gate(followed.gates, verdict.reason)
    raise DeliveryFailedError(
        f"{dep.name}: service deployment {started.arn.rsplit('/', 1)[-1]} {verdict.reason} "
        f"(stage reached: {verdict.stage or 'none'}; failed gate: {failed_gate})",
        "the previous revision serves the traffic" if "rolled back" in verdict.reason else
        "check the service's events and stopped tasks in the ECS console",
        (*progress, f"failed gate: {failed_gate}"))


def _failed_gate(gates: list[str], reason: str) -> str:
    if any("FAILED" in g for g in gates):
        return "smoke"
    lowered = reason.lower()
    for word, gate in (("alarm", "alarms"), ("hook", "lifecycle hook"),
                       ("circuit breaker", "circuit breaker"), ("stopservicedeployment", "stop"),
                       ("replaced", "superseded by a newer deployment")):
        if word in lowered:
            return gate
    return "none (the deployment itself)"


def _rolling(ctx: Context, dep: ServiceDeployment, arn: str, before: ecs_rollout.Before,
             gates: list[str]) -> Done:
    ecs_dep = dep.ecs
    assert ecs_dep is not None  # noqa: S101
    strategy = ecs_dep.deployment
    assert strategy is not None  # noqa: S101
    target = ecs_rollout.Target(ecs_dep.cluster, ecs_dep.service, ecs_dep.deadline_seconds,
                                ecs_dep.desired_count,
                                ecs_strategy.deployment_configuration(strategy))
    # the circuit breaker goes with this update: it, not the service's old setting, says
    # whether ECS rolls a failed rollout back by itself
    described = ctx.rollouts().roll_out(
        target, arn, ecs_rollout.Before(before.arn, strategy.circuit_breaker))
    if strategy.smoke is None:
        return Done(updated=True, arn=arn, detail="revision " + arn.rsplit(":", 1)[-1],
                    reach=(ecs_dep.cluster, described), progress=tuple(gates))
    passed, detail = _smoke(ctx, ecs_smoke.service_request(
        ctx.client, ecs_dep.cluster, described, strategy.smoke), strategy)
    gates.append(f"smoke {'passed' if passed else 'FAILED'}: {detail}")
    ctx.log(f"{dep.name}: smoke check {'passed' if passed else 'failed'}: {detail}")
    if passed:
        return Done(updated=True, arn=arn, detail="revision " + arn.rsplit(":", 1)[-1],
                    reach=(ecs_dep.cluster, described), progress=tuple(gates))
    if before.arn is None:
        raise DeliveryFailedError(f"{dep.name}: smoke check failed: {detail}",
                                  "no previous revision to put back", tuple(gates))
    ctx.log(f"{dep.name}: putting {rollout.revision(before.arn)} back")
    ctx.rollouts().roll_out(target, before.arn, ecs_rollout.Before(None, False))
    raise DeliveryFailedError(
        f"{dep.name}: smoke check failed after the rollout: {detail}; rolled back to "
        f"{rollout.revision(before.arn)}", "fix the new revision and release again",
        (*gates, "failed gate: smoke"), rolled_back_to=rollout.revision(before.arn))


def deliver(ctx: Context, dep: ServiceDeployment, arn: str, before: ecs_rollout.Before,
            network: object) -> Done:
    """Run the service's gates and move its traffic to ``arn`` by its strategy."""
    ecs_dep = dep.ecs
    assert ecs_dep is not None  # noqa: S101
    assert ecs_dep.deployment is not None  # noqa: S101
    gates = []
    if ecs_dep.deployment.run_task is not None:
        gates.append(_run_task(ctx, dep, ecs_dep, arn, network))
    if ecs_dep.deployment.progressive:
        return _progressive(ctx, dep, ecs_dep, arn, gates)
    return _rolling(ctx, dep, arn, before, gates)
