"""Carry a Plan out: build and push the missing images (BuildKit, bounded at once), then
apply each service's targets in order (services at once: rollouts wait on one batched
poller), record the release on what was left unchanged, and look the URLs up together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from release.adapters.aws import ecs_address
from release.adapters.buildkit import BuildReport
from release.engine import images
from release.engine.context import MAX_ROLLOUTS, Context, Deps
from release.engine.plan import Plan, ServicePlan, decide
from release.engine.targets import Done
from release.errors import ReleaseError
from release.planning import lambda_shift, plan, recorded


@dataclass(frozen=True)
class Outcome:
    """What happened to one target of one service."""

    service: str
    target: str
    build_key: str | None
    digest: str | None
    built: bool
    registered: bool
    updated: bool
    status: str  # planned | unchanged | deployed | failed | skipped
    reason: str = ""
    detail: str = ""
    message: str = ""
    hint: str | None = None
    seconds: float = 0.0
    url: str | None = None  # how to reach an ECS service after its rollout
    rolled_back_to: str | None = None  # family:N put back after our rollout failed
    arn: str | None = None  # the ECS task definition ARN the service runs afterwards
    build: BuildReport | None = None  # how its image was built in this run
    progress: tuple[str, ...] = ()  # gate results and stages reached (progressive delivery)
    traffic: lambda_shift.Report | None = None  # a progressive Lambda move's stages and gates


@dataclass(frozen=True)
class Applied:
    """One target's step, and what applying it did (or the error), and how long it took."""

    step: plan.TargetStep
    result: Done | ReleaseError
    seconds: float


@dataclass(frozen=True)
class ServiceResult:
    """A service's plan and what applying it did (empty for a dry run or a failed plan)."""

    plan: ServicePlan
    applied: tuple[Applied, ...] = ()


def build_missing(ctx: Context, planned: Plan, logins: images.Logins, deps: Deps,
                  workers: int) -> Plan:
    """``planned`` with every missing image built and pushed, and the services that got one
    decided again against the real image reference; a failed build fails its service."""
    building = [s for s in planned.services
                if s.error is None and s.image is not None and s.image.digest is None]
    built = iter(images.build_all(ctx, [(s.dep, s.image) for s in building if s.image],
                                  logins, deps.open_builds, workers))
    chosen = {id(s) for s in building}
    return dataclasses.replace(planned, services=tuple(
        _built(ctx, svc, next(built)) if id(svc) in chosen else svc
        for svc in planned.services))


def _built(ctx: Context, svc: ServicePlan, got: images.Built) -> ServicePlan:
    assert svc.image is not None  # noqa: S101 - only services with an image are built
    if isinstance(got, ReleaseError):
        return dataclasses.replace(svc, error=ReleaseError(f"build: {got.message}", got.hint))
    svc = dataclasses.replace(svc, image=dataclasses.replace(svc.image, digest=got.digest),
                              build=got)
    try:  # the digest is known now: decide the targets against the real image reference
        return decide(ctx, svc)
    except ReleaseError as exc:
        return dataclasses.replace(svc, error=exc)


def apply(ctx: Context, planned: Plan, rollouts: int) -> tuple[ServiceResult, ...]:
    """Apply every service's targets, ``rollouts`` services at once (0: all, bounded)."""
    at_once = max(1, min(rollouts or len(planned.services), MAX_ROLLOUTS))
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        done = list(pool.map(lambda s: ServiceResult(s, apply_service(ctx, s)),
                             planned.services))
    return with_urls(ctx, done)


def apply_service(ctx: Context, svc: ServicePlan) -> tuple[Applied, ...]:
    """Apply the service's targets in order, stopping at the first failure (a state
    machine or files depend on the function or service before them); then record."""
    if svc.error is not None:
        return ()
    want = svc.wanted(ctx.env)
    applied = []
    for target in svc.targets:
        began = ctx.clock()
        try:
            result: Done | ReleaseError = target.kind.apply(ctx, svc.dep, target.decision,
                                                             svc.seen, want)
        except ReleaseError as exc:
            result = exc
        applied.append(Applied(target.step, result, ctx.clock() - began))
        if isinstance(result, ReleaseError):
            return tuple(applied)
    _record(ctx, svc, want.build_key)
    return tuple(applied)


def _record(ctx: Context, svc: ServicePlan, build_key: str) -> None:
    """Tag what runs with this release's keys where an unchanged target lacks them. Only
    unchanged targets: an updated one carries the tags already, and ``seen`` describes what
    ran before it (tagging that would mislabel the old revision)."""
    want = recorded.tags(build_key, ctx.commit, ctx.config_keys.get(svc.dep.name))
    try:
        for target in svc.targets:
            if target.step.action == "none":
                target.kind.record(ctx, svc.dep, svc.seen[target.kind.name], want)
    except ReleaseError as exc:
        ctx.log(f"{svc.dep.name}: warning: {exc.message}")


def with_urls(ctx: Context, done: list[ServiceResult]) -> tuple[ServiceResult, ...]:
    """Each rolled-out ECS service's URL, looked up for all services at once (after every
    rollout: one DescribeTasks and one DescribeNetworkInterfaces per cluster)."""
    spots: list[tuple[int, int, Done]] = []
    reaches = []
    for i, svc in enumerate(done):
        for j, a in enumerate(svc.applied):
            if isinstance(a.result, Done) and a.result.reach is not None:
                spots.append((i, j, a.result))
                reaches.append(a.result.reach)
    if not spots:
        return tuple(done)
    urls = ecs_address.service_urls(ctx.client, reaches)
    out = list(done)
    for (i, j, result), url in zip(spots, urls, strict=True):
        applied = list(out[i].applied)
        applied[j] = dataclasses.replace(applied[j], result=dataclasses.replace(
            result, url=url, reach=None))
        out[i] = dataclasses.replace(out[i], applied=tuple(applied))
    return tuple(out)


def outcomes(results: tuple[ServiceResult, ...], clock: Callable[[], float], *,
             planned: bool) -> tuple[Outcome, ...]:
    """One outcome per target of every service (a failed plan: one for the service)."""
    out: list[Outcome] = []
    for done in results:
        svc = done.plan
        base = Outcome(svc.dep.name, "-", svc.image.build_key if svc.image else None,
                       svc.image.digest if svc.image else None, svc.build is not None, False,
                       False, "planned", build=svc.build)
        if svc.error is not None:
            out.append(dataclasses.replace(
                base, target=",".join(svc.dep.service.targets), status="failed",
                message=svc.error.message, hint=svc.error.hint, seconds=clock() - svc.started))
        elif planned:
            out.extend(dataclasses.replace(base, target=s.target, reason=s.reason,
                                           status="planned" if s.action != "none"
                                           else "unchanged") for s in svc.steps)
        else:
            out.extend(_applied(base, svc, done.applied))
    return tuple(out)


def _applied(base: Outcome, svc: ServicePlan,
             applied: tuple[Applied, ...]) -> list[Outcome]:
    out = []
    for a in applied:
        step, result = a.step, a.result
        if isinstance(result, ReleaseError):
            out.append(dataclasses.replace(
                base, target=step.target, reason=step.reason, status="failed",
                message=result.message, hint=result.hint, seconds=a.seconds,
                rolled_back_to=getattr(result, "rolled_back_to", None),
                progress=tuple(getattr(result, "progress", ())),
                traffic=getattr(result, "traffic", None)))
        else:
            out.append(dataclasses.replace(
                base, target=step.target, reason=step.reason, registered=result.registered,
                updated=result.updated, status=result.status or (
                    "deployed" if result.updated else "unchanged"),
                detail=result.detail, seconds=a.seconds, url=result.url, arn=result.arn,
                progress=result.progress, traffic=result.traffic))
    for step in svc.steps[len(applied):]:
        out.append(dataclasses.replace(
            base, target=step.target, reason=step.reason, status="skipped",
            message="not attempted: an earlier target of this service failed"))
    return out
