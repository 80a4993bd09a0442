"""Act on an ECS service deployment under way: continue one paused at a hook, or stop one
(rolling it back or aborting it), then follow it to its end like a deploy does."""

from __future__ import annotations

from pathlib import Path

from release.adapters.aws import ecs_progressive
from release.engine.context import Context, Deps, select
from release.engine.operations import aws_context
from release.engine.targets import Change
from release.errors import ReleaseError, UsageError
from release.planning import ecs_strategy

DEADLINE_SECONDS = 3600.0


def _under_way(ctx: Context, service: str) -> tuple[str, str, ecs_progressive.Started]:
    [dep] = select(ctx.env, (service,))
    if dep.ecs is None:
        raise UsageError(f"{dep.name} has no ECS service in {ctx.env.name}",
                         "continue and stop act on ECS service deployments")
    started = ecs_progressive.under_way(ctx.client("ecs"), dep.ecs.cluster, dep.ecs.service)
    return dep.name, dep.ecs.cluster, started


def _follow(ctx: Context, name: str, started: ecs_progressive.Started) -> Change:
    followed = ecs_progressive.follow(
        ctx.client("ecs"), started, name=name, log=ctx.log,
        pace=ecs_progressive.Pace(ctx.clock, ctx.sleep, 0.5, DEADLINE_SECONDS))
    verdict = followed.verdict
    short = started.arn.rsplit("/", 1)[-1]
    stages = " -> ".join(followed.stages)
    if verdict.kind == "successful":
        return Change(name, "ecs", short, verdict.stage, "deployed", f"stages: {stages}")
    if verdict.kind == "paused":
        return Change(name, "ecs", short, verdict.stage, "paused", verdict.reason)
    status = "rolled-back" if "rolled back" in verdict.reason else "failed"
    return Change(name, "ecs", short, verdict.stage, status,
                  f"service deployment {short} {verdict.reason}")


def continue_deployment(root: Path, environment: str, service: str,
                        deps: Deps) -> tuple[Change, ...]:
    """ContinueServiceDeployment at the hook the service's deployment awaits, then follow."""
    with aws_context(root, environment, deps) as ctx:
        name, _, started = _under_way(ctx, service)
        found = ecs_progressive.describe(ctx.client("ecs"), started.arn)
        verdict = ecs_strategy.judge(found, smoke_pending=False)
        if verdict.kind != "paused" or verdict.hook_id is None:
            raise ReleaseError(f"{name}: its deployment is not paused (stage "
                               f"{verdict.stage or 'unknown'}, {found.get('status')})",
                               "only a deployment waiting at a pause hook can be continued")
        ctx.log(f"{name}: continuing from {verdict.stage}")
        ecs_progressive.act(ctx.client("ecs"), started.arn, verdict.hook_id, "CONTINUE")
        return (_follow(ctx, name, started),)


def stop_deployment(root: Path, environment: str, service: str, *, rollback: bool,
                    deps: Deps) -> tuple[Change, ...]:
    """StopServiceDeployment (ROLLBACK, or ABORT) of the service's deployment, then follow."""
    with aws_context(root, environment, deps) as ctx:
        name, _, started = _under_way(ctx, service)
        ctx.log(f"{name}: stopping {started.arn.rsplit('/', 1)[-1]}"
                + (" with a rollback" if rollback else ""))
        ecs_progressive.stop(ctx.client("ecs"), started.arn, rollback=rollback)
        return (_follow(ctx, name, started),)
