"""Open a run (config, git, clients), observe what the chosen services run (batched), and
decide: the Plan value, per target the current state, the desired state and the step."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from release.adapters import git, git_history
from release.adapters.aws import ecs
from release.adapters.aws.clients import AwsClients
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.adapters.buildkit import BuildReport
from release.config import load_config
from release.config.model import Environment, ServiceDeployment
from release.engine import azure, images, keys, targets
from release.engine.context import Context, Deps, ImageReads, select
from release.engine.targets import Decision, Observed, TargetKind, Wanted
from release.errors import ReleaseError, UsageError
from release.planning import buildkey, plan, rollout


@dataclass(frozen=True)
class TargetPlan:
    """One target of one service: its kind and what was decided for it."""

    kind: TargetKind
    decision: Decision

    @property
    def step(self) -> plan.TargetStep:
        """What to do and why."""
        return self.decision.step


@dataclass(frozen=True)
class ServicePlan:
    """One service: its image (built or found), what runs now, and each target's plan; or the
    error that stopped it being planned (the other services go on)."""

    dep: ServiceDeployment
    image: plan.ImageStep | None = None
    seen: Observed = field(default_factory=lambda: MappingProxyType({}))
    targets: tuple[TargetPlan, ...] = ()
    error: ReleaseError | None = None
    started: float = 0.0
    build: BuildReport | None = None  # how its image was built in this run

    @property
    def steps(self) -> list[plan.TargetStep]:
        """Every target's step, in deploy order."""
        return [t.step for t in self.targets]

    def wanted(self, env: Environment) -> Wanted:
        """The image (``host/repository@digest`` once the digest is known) and build key."""
        if self.image is None or self.image.digest is None:
            return Wanted(None, self.image.build_key if self.image else "")
        return Wanted(f"{env.registry_of(self.dep).host}/{self.image.repository}"
                      f"@{self.image.digest}", self.image.build_key)


@dataclass(frozen=True)
class Plan:
    """What a deploy would do: every chosen service's plan, in the order chosen."""

    environment: str
    commit: str
    services: tuple[ServicePlan, ...]


@dataclass(frozen=True)
class Run:
    """One opened run: its context, the chosen services and their git ids."""

    ctx: Context
    chosen: list[ServiceDeployment]
    ids: Mapping[str, str]


def needs_aws(env: Environment, chosen: list[ServiceDeployment]) -> bool:
    """True when a chosen service deploys to AWS, pushes to ECR or reads AWS build secrets."""
    return any(d.needs_aws or (d.service.needs_image and (
        env.registry_of(d).type == "ecr" or images.reads_aws_secrets(d))) for d in chosen)


@contextmanager
def opened(root: Path, environment: str, services: tuple[str, ...],
           deps: Deps) -> Iterator[Run]:
    """Load the config, key the chosen services on the work tree and make the clients (one
    batched ECS poller, one Azure session); the clients are closed on the way out."""
    config = load_config(root, (environment,))
    env = config.environments[environment]
    chosen = select(env, services)
    aws_wanted = needs_aws(env, chosen)
    if aws_wanted and env.aws is None:
        raise UsageError(f"{env.path} has no aws block",
                         "the chosen services deploy to AWS (or push to ECR): add aws: "
                         "{region, account_id, role_arn}")
    snap = git.snapshot(config.root)
    if snap.dirty:
        deps.log("note: the work tree has uncommitted changes; build keys include them")
    building = [d.service for d in chosen if d.service.needs_image]
    ids = git.build_ids(config.root, snap.tree,
                        [p for s in building for p in buildkey.paths_of(s)],
                        [buildkey.context_of(s) for s in building])
    wanted = keys.desired(config, env, [d.name for d in chosen], snap.tree)
    aws = deps.clients(env) if aws_wanted else None  # Azure-only: no AWS client at all
    try:
        ctx = Context(config, env, aws, snap.commit, deps.clock, deps.sleep, deps.log,
                      deps.random, _watcher(aws, deps),
                      {n: k.config_key for n, k in wanted.items() if k.config_key},
                      azure.Session(env, deps.environ) if env.azure is not None else None,
                      _ecs_reads(aws, chosen), environ=deps.environ)
        yield Run(ctx, chosen, ids)
    finally:
        if aws is not None:
            aws.close()


def _watcher(aws: AwsClients | None, deps: Deps) -> RolloutWatcher | None:
    if aws is None:
        return None
    return RolloutWatcher(lambda: aws.client("ecs"), Pace(deps.clock, deps.sleep))


def _ecs_reads(aws: AwsClients | None, chosen: list[ServiceDeployment]) -> ecs.Reads | None:
    """The chosen ECS services, described together (10 per DescribeServices) when planning."""
    wanted = [(d.ecs.cluster, d.ecs.service) for d in chosen if d.ecs is not None]
    return ecs.Reads(lambda: aws.client("ecs"), wanted) if aws is not None and wanted else None


def with_logins(run: Run) -> tuple[Context, images.Logins]:
    """One login per registry the chosen services push to, and a context whose image reads
    (the Lambda manifest check) reuse them."""
    ctx = run.ctx
    logins = images.logins(ctx, run.chosen)
    reads = ImageReads(lambda reg: images.login_for(logins, reg), ctx.ca_bundle)
    return dataclasses.replace(ctx, images=reads), logins


def make_plan(ctx: Context, run: Run, logins: images.Logins, *, parallel: int,
              allow_downgrade: bool) -> Plan:
    """Observe every chosen service (``parallel`` at once) and decide its targets."""
    def one(dep: ServiceDeployment) -> ServicePlan:
        began = ctx.clock()
        image = None
        try:
            if dep.service.needs_image:
                image = images.lookup(ctx, dep, run.ids, logins)
            planned = decide(ctx, ServicePlan(dep, image, observe(ctx, dep), started=began))
            refuse_downgrade(ctx, planned, allow_downgrade)
        except ReleaseError as exc:
            return ServicePlan(dep, image, error=exc, started=began)
        return planned

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        planned = tuple(pool.map(one, run.chosen))
    return Plan(ctx.env.name, ctx.commit, planned)


def observe(ctx: Context, dep: ServiceDeployment) -> Observed:
    """What each target of ``dep`` runs now."""
    return MappingProxyType({kind.name: kind.observe(ctx, dep)
                             for kind in targets.of(dep.service.targets)})


def decide(ctx: Context, svc: ServicePlan, want: Wanted | None = None) -> ServicePlan:
    """``svc`` with each target decided from what it runs and the image it should run
    (``want``: instead of the service's own image, e.g. a tag not pushed yet for a diff)."""
    want = want or svc.wanted(ctx.env)
    return dataclasses.replace(svc, targets=tuple(
        TargetPlan(kind, kind.decide(ctx, svc.dep, svc.seen, want))
        for kind in targets.of(svc.dep.service.targets)))


def running_commits(svc: ServicePlan) -> dict[str, str]:
    """Target -> the source commit recorded on what it runs now (where one is recorded)."""
    found = {t.kind.name: t.kind.running_commit(svc.seen[t.kind.name]) for t in svc.targets}
    return {name: commit for name, commit in found.items() if commit}


def refuse_downgrade(ctx: Context, svc: ServicePlan, allowed: bool) -> None:
    """Raise when a target would go back to an older commit than the one it runs."""
    changing = {s.target for s in svc.steps if s.action != "none"}
    for target, running in running_commits(svc).items():
        if target not in changing or running == ctx.commit:
            continue
        verdict = rollout.downgrade(ctx.commit, running,
                                    git_history.descends_from(ctx.config.root, running,
                                                              ctx.commit), allowed=allowed)
        if verdict.kind == "refuse":
            raise ReleaseError(f"{target}: {verdict.message}",
                               "deploy from a checkout that contains the running commit, or "
                               "pass --allow-downgrade to go back on purpose (`release "
                               "rollback` puts the previous revision back)")
        if verdict.message:
            ctx.log(f"{svc.dep.name}: note: {verdict.message}")
