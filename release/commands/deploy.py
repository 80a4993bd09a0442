"""``release deploy``: build what is missing, then bring every target up to date.

Plan first (build keys, registry, what runs now), print the plan, stop there on --dry-run;
then build and push once per service and deploy its targets, services in parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from release import names
from release.adapters import buildkit, git, git_history, github, registry
from release.adapters.aws import ecs
from release.adapters.aws.clients import AwsClients
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.commands import auth_azure, images, summary, targets
from release.commands import plan as plan_cmd
from release.config import load_config
from release.config.model import Environment, Registry, ServiceDeployment
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.output import envelope, table
from release.planning import buildkey, plan, rollout

MAX_ROLLOUTS = 64  # threads that mostly wait; ECS's API rate limits bound the rest


@dataclass(frozen=True)
class Options:
    """What to deploy where."""

    root: Path
    environment: str
    services: tuple[str, ...] = ()
    dry_run: bool = False
    parallel: int = 8  # plan reads at once (registry, cloud)
    allow_downgrade: bool = False
    rollouts: int = 0  # services deployed at once; 0: all (a rollout waits, it uses no CPU)
    builds: int = 0  # images built at once; 0: one per CPU


def _log(line: str) -> None:
    # One line per call: a line break in it (a cloud error, a build's output) is shown
    # escaped, never as a line of its own that could pass for ours.
    sys.stderr.write(names.printable(line) + "\n")
    sys.stderr.flush()


def _command(name: str, message: str) -> None:
    github.command(name, message, stream=sys.stderr)  # past the guard, beside the log lines


def open_builds() -> buildkit.Session:
    """The run's builder (found once, said in the log) with a private DOCKER_CONFIG; build
    output grouped per image under GitHub Actions, prefixed per service elsewhere."""
    actions = os.environ.get("GITHUB_ACTIONS") == "true"
    return buildkit.Session.open(os.environ, buildkit.BuildLog(_log, _command if actions
                                                                else None))


def build_workers(asked: int) -> int:
    """Images built at once: ``asked``, or one per CPU when 0."""
    return asked if asked > 0 else (os.cpu_count() or 1)


@dataclass
class Deps:
    """The outside world, made by the command line and replaced in tests."""

    aws: Callable[[Environment], AwsClients] = lambda env: AwsClients(env.aws)  # type: ignore[arg-type]
    builds: Callable[[], buildkit.Session] = open_builds
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = _log
    random: Callable[[], float] = random.random


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
    build: buildkit.BuildReport | None = None  # how its image was built in this run


@dataclass(frozen=True)
class Result:
    """Every target's outcome; exit code 1 when any failed."""

    environment: str
    commit: str
    outcomes: tuple[Outcome, ...]
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """1 when any target failed."""
        return EXIT_FAILED if any(o.status == "failed" for o in self.outcomes) else EXIT_OK

    def to_text(self) -> str:
        """A table for people, failures first, with each failure's message and hint."""
        ordered = sorted(self.outcomes, key=lambda o: (o.status != "failed", o.service))
        rows = [(o.service, o.target, (o.build_key or "")[:12],
                 "built" if o.built else ("reused" if o.digest else ""),
                 names.printable((o.digest or "")[7:19]), names.printable(o.detail), o.status,
                 f"{o.seconds:.1f}s" if o.seconds else "") for o in ordered]
        lines = [table(["SERVICE", "TARGET", "BUILD KEY", "IMAGE", "DIGEST", "REVISION/VERSION",
                        "STATUS", "TIME"], rows)]
        for o in ordered:
            if o.status == "failed":
                lines.append(f"\n{o.service} {o.target}: {_indented(o.message, '    ')}")
                if o.hint:
                    lines.append(f"  hint: {_indented(o.hint, '        ')}")
        lines += [f"\n{o.service}: {names.printable(o.url)}" for o in ordered if o.url]
        changed = sum(o.status == "deployed" for o in self.outcomes)
        failed = sum(o.status == "failed" for o in self.outcomes)
        if self.dry_run:
            lines.append("\ndry run: nothing was built or changed")
        elif failed:
            lines.append(f"\n{failed} failed, {changed} deployed; rerun to retry the failed ones")
        elif changed == 0:
            lines.append("\nnothing to do: every target already runs this commit's build")
        else:
            lines.append(f"\n{changed} targets deployed to {self.environment}")
        return "\n".join(lines)

    def github_outputs(self) -> dict[str, str]:
        """Step outputs: digests and ARNs only, never credentials (masked outputs are dropped)."""
        ok = [o for o in self.outcomes if o.status in {"deployed", "unchanged"}]
        outputs = {"results": json.dumps([
            {"service": o.service, "target": o.target, "digest": o.digest,
             "status": o.status, "detail": o.detail} for o in self.outcomes])}
        digests = {o.digest for o in ok if o.digest}
        if len(digests) == 1:
            outputs["digest"] = digests.pop()
        for o in ok:
            if o.target == "lambda" and o.detail.startswith("version "):
                outputs.setdefault("function-version", o.detail.split(" ", 1)[1])
            if o.target == "ecs" and o.arn:
                outputs.setdefault("task-definition-arn", o.arn)
        urls = {o.service: o.url for o in ok if o.url}
        if urls:
            outputs["service-url"] = next(iter(urls.values()))
            outputs["service-urls"] = json.dumps(urls)
        return outputs

    def summary_markdown(self) -> str:
        """The job summary: a diagram, one table (failures first), each failure's hint."""
        return summary.deploy_markdown(self)

    def to_json(self) -> str:
        """Versioned JSON: one entry per service and target."""
        return envelope("deploy", {"environment": self.environment, "commit": self.commit,
                                   "dry_run": self.dry_run,
                                   "results": [asdict(o) for o in self.outcomes]})


@dataclass
class _Service:
    """One service's progress through the deploy."""

    dep: ServiceDeployment
    image: plan.ImageStep | None
    seen: targets.Observed | None = None
    steps: list[plan.TargetStep] = field(default_factory=list)
    error: ReleaseError | None = None
    built: bool = False
    build: buildkit.BuildReport | None = None
    started: float = 0.0
    applied: list[tuple[plan.TargetStep, targets.Done | ReleaseError, float]] = field(
        default_factory=list)


def select(env: Environment, names: tuple[str, ...]) -> list[ServiceDeployment]:
    """The deployments to release: those named (checked), or all of the environment."""
    if not names:
        return list(env.deployments.values())
    unknown = [n for n in names if n not in env.deployments]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(env.deployments), n=1)
        raise UsageError(f"service '{name}' is not deployed to {env.name}",
                         f"did you mean '{close[0]}'?" if close else
                         f"services in {env.path}: {', '.join(env.deployments)}")
    return [env.deployments[n] for n in names]


def run(options: Options, deps: Deps | None = None) -> Result:
    """Plan, print the plan, and (unless dry run) apply it."""
    deps = deps or Deps()
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    chosen = select(env, options.services)
    needs_aws = any(d.needs_aws or (d.service.needs_image and (
        env.registry_of(d).type == "ecr" or images.reads_aws_secrets(d))) for d in chosen)
    if needs_aws and env.aws is None:
        raise UsageError(f"{env.path} has no aws block",
                         "the chosen services deploy to AWS (or push to ECR): add aws: "
                         "{region, account_id, role_arn}")
    snap = git.snapshot(config.root)
    if snap.dirty:
        deps.log("note: the work tree has uncommitted changes; build keys include them")
    paths = [p for d in chosen if d.service.needs_image for p in buildkey.paths_of(d.service)]
    ids = git.build_ids(config.root, snap.tree, paths,
                        [buildkey.context_of(d.service) for d in chosen
                         if d.service.needs_image])
    keys = plan_cmd.desired(config, env, [d.name for d in chosen], snap.tree)
    aws = deps.aws(env) if needs_aws else None  # Azure-only: no AWS client at all
    watcher = (RolloutWatcher(lambda: aws.client("ecs"), Pace(deps.clock, deps.sleep))
               if aws is not None else None)
    azure = auth_azure.Session(env, os.environ) if env.azure is not None else None
    try:
        return _release(options, deps, targets.Context(
            config, env, aws, snap.commit, deps.clock, deps.sleep, deps.log, deps.random,
            watcher, {n: k.config_key for n, k in keys.items() if k.config_key}, azure,
            _ecs_reads(aws, chosen)), chosen, ids)
    finally:
        if aws is not None:
            aws.close()


def _release(options: Options, deps: Deps, ctx: targets.Context,
             chosen: list[ServiceDeployment], ids: dict[str, str]) -> Result:
    env = ctx.env
    logins = _logins(ctx, chosen)
    # The Lambda image check reads manifests with these logins: no second login per registry.
    ctx = dataclasses.replace(ctx, images=targets.ImageReads(
        lambda _ctx, reg: images.login_for(logins, reg)))
    services = [_Service(d, None) for d in chosen]
    for svc in services:
        svc.started = deps.clock()
    with ThreadPoolExecutor(max_workers=options.parallel) as pool:
        list(pool.map(lambda s: _plan_service(ctx, s, ids, logins, options.allow_downgrade),
                      services))
    _print_plan(services, deps.log)
    if options.dry_run:
        return Result(env.name, ctx.commit, _outcomes(services, deps.clock, planned=True), True)

    building = [s for s in services
                if s.error is None and s.image is not None and s.image.digest is None]
    built = images.build_all(ctx, [(s.dep, s.image) for s in building if s.image], logins,
                             deps.builds, build_workers(options.builds))
    for svc, got in zip(building, built, strict=True):
        _built(ctx, svc, got)
    with ThreadPoolExecutor(max_workers=_rollout_pool(options, len(services))) as pool:
        list(pool.map(lambda s: _deploy_service(ctx, s), services))
    _add_urls(ctx, services)
    return Result(env.name, ctx.commit, _outcomes(services, deps.clock, planned=False))


def _ecs_reads(aws: AwsClients | None, chosen: list[ServiceDeployment]) -> ecs.Reads | None:
    """The chosen ECS services, described together (10 per DescribeServices) when planning."""
    wanted = [(d.ecs.cluster, d.ecs.service) for d in chosen if d.ecs is not None]
    return ecs.Reads(lambda: aws.client("ecs"), wanted) if aws is not None and wanted else None


def _rollout_pool(options: Options, services: int) -> int:
    """Services deployed at once: every one by default (rollouts wait together on one
    batched poller), at most MAX_ROLLOUTS."""
    return max(1, min(options.rollouts or services, MAX_ROLLOUTS))


def _add_urls(ctx: targets.Context, services: list[_Service]) -> None:
    """Each rolled-out ECS service's URL, looked up for all services at once."""
    spots = [(svc, i) for svc in services for i, (_, result, _) in enumerate(svc.applied)
             if isinstance(result, targets.Done) and result.reach is not None]
    done = [result for svc, i in spots if isinstance(result := svc.applied[i][1], targets.Done)]
    for (svc, i), found in zip(spots, targets.with_urls(ctx, done), strict=True):
        step, _, seconds = svc.applied[i]
        svc.applied[i] = (step, found, seconds)


def _logins(ctx: targets.Context,
            chosen: list[ServiceDeployment]) -> images.Logins:
    """One login per distinct registry the chosen services push to (ECR and ACR may mix)."""
    return images.logins(ctx, chosen, _login)


def _login(ctx: targets.Context, reg: Registry) -> registry.Login:
    return images.login(ctx, reg)


def _image_ref(env: Environment, svc: _Service) -> str | None:
    if svc.image is None or svc.image.digest is None:
        return None
    return f"{env.registry_of(svc.dep).host}/{svc.image.repository}@{svc.image.digest}"


def _plan_service(ctx: targets.Context, svc: _Service, ids: dict[str, str],
                  logins: images.Logins, allow_downgrade: bool) -> None:
    try:
        if svc.dep.service.needs_image:
            svc.image = images.lookup(ctx, svc.dep, ids, logins)
        svc.seen = targets.observe(ctx, svc.dep)
        svc.steps = targets.steps(ctx, svc.dep, svc.seen, image=_image_ref(ctx.env, svc),
                                  build_key=svc.image.build_key if svc.image else "")
        _refuse_downgrade(ctx, svc, allow_downgrade)
    except ReleaseError as exc:
        svc.error = exc


def _refuse_downgrade(ctx: targets.Context, svc: _Service, allowed: bool) -> None:
    """Raise when a target would go back to an older commit than the one it runs."""
    assert svc.seen is not None  # noqa: S101
    changing = {s.target for s in svc.steps if s.action != "none"}
    for target, running in targets.running_commits(svc.seen).items():
        if target not in changing or running == ctx.commit:
            continue
        verdict = rollout.downgrade(ctx.commit, running,
                                    git_history.descends_from(ctx.config.root, running, ctx.commit),
                                    allowed=allowed)
        if verdict.kind == "refuse":
            raise ReleaseError(f"{target}: {verdict.message}",
                               "deploy from a checkout that contains the running commit, or "
                               "pass --allow-downgrade to go back on purpose (`release "
                               "rollback` puts the previous revision back)")
        if verdict.message:
            ctx.log(f"{svc.dep.name}: note: {verdict.message}")


def _print_plan(services: list[_Service], log: Callable[[str], None]) -> None:
    rows = []
    for svc in services:
        image = svc.image.action if svc.image else "-"
        if svc.error is not None:
            rows.append((svc.dep.name, "-", image, "error", names.printable(svc.error.message)))
        for step in svc.steps:
            rows.append((svc.dep.name, step.target, image, step.action,
                         names.printable(step.reason)))
    log("plan:")
    for line in table(["SERVICE", "TARGET", "IMAGE", "ACTION", "WHY"], rows).splitlines():
        log(line)


def _indented(text: str, indent: str) -> str:
    """A message over several lines for people: each line escaped (no control characters)
    and the lines after the first indented, so none of them can pass for a line of ours."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([names.printable(first), *(indent + names.printable(r) for r in rest)])


def _built(ctx: targets.Context, svc: _Service, got: images.Built) -> None:
    assert svc.image is not None  # noqa: S101
    if isinstance(got, ReleaseError):
        svc.error = ReleaseError(f"build: {got.message}", got.hint)
        return
    svc.built, svc.build = True, got
    svc.image = replace(svc.image, digest=got.digest)
    # The digest is known now: decide the targets against the real image reference.
    try:
        assert svc.seen is not None  # noqa: S101
        svc.steps = targets.steps(ctx, svc.dep, svc.seen, image=_image_ref(ctx.env, svc),
                                  build_key=svc.image.build_key)
    except ReleaseError as exc:
        svc.error = exc


def _deploy_service(ctx: targets.Context, svc: _Service) -> None:
    if svc.error is not None or svc.seen is None:
        return
    key = svc.image.build_key if svc.image else ""
    for step in svc.steps:
        began = ctx.clock()
        try:
            result: targets.Done | ReleaseError = targets.apply(
                ctx, svc.dep, step, svc.seen, image=_image_ref(ctx.env, svc), build_key=key)
        except ReleaseError as exc:
            result = exc
        svc.applied.append((step, result, ctx.clock() - began))
        if isinstance(result, ReleaseError):
            return  # later targets (state machine, files) depend on this one
    try:
        targets.record(ctx, svc.dep, svc.seen, key,
                       {step.target for step in svc.steps if step.action == "none"})
    except ReleaseError as exc:
        ctx.log(f"{svc.dep.name}: warning: {exc.message}")


def _outcomes(services: list[_Service], clock: Callable[[], float], *,
              planned: bool) -> tuple[Outcome, ...]:
    out = []
    for svc in services:
        key = svc.image.build_key if svc.image else None
        digest = svc.image.digest if svc.image else None
        base = Outcome(svc.dep.name, "-", key, digest, svc.built, False, False, "planned",
                       build=svc.build)
        if svc.error is not None:
            out.append(replace(base, target=",".join(svc.dep.service.targets), status="failed",
                               message=svc.error.message, hint=svc.error.hint,
                               seconds=clock() - svc.started))
            continue
        if planned:
            out.extend(replace(base, target=s.target, reason=s.reason,
                               status="planned" if s.action != "none" else "unchanged")
                       for s in svc.steps)
            continue
        applied = svc.applied
        for step, result, seconds in applied:
            if isinstance(result, ReleaseError):
                out.append(replace(base, target=step.target, reason=step.reason,
                                   status="failed", message=result.message, hint=result.hint,
                                   seconds=seconds,
                                   rolled_back_to=getattr(result, "rolled_back_to", None)))
            else:
                out.append(replace(base, target=step.target, reason=step.reason,
                                   registered=result.registered, updated=result.updated,
                                   status="deployed" if result.updated else "unchanged",
                                   detail=result.detail, seconds=seconds, url=result.url,
                                   arn=result.arn))
        for step in svc.steps[len(applied):]:
            out.append(replace(base, target=step.target, reason=step.reason, status="skipped",
                               message="not attempted: an earlier target of this service "
                                       "failed"))
    return tuple(out)


def register(sub: Any) -> None:
    """Add ``deploy`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "deploy", help="build what changed and deploy it to an environment",
        description="Plan from build keys and what runs now, build and push missing images "
                    "once, then bring every ECS service, Lambda function, state machine and "
                    "S3 file of the environment up to date.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help="only these services (default: all of the environment)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and stop: build nothing, change nothing")
    parser.add_argument("--parallel", type=int, default=8, metavar="N",
                        help="registry and cloud reads at once while planning (default: 8)")
    parser.add_argument("--builds", type=int, default=0, metavar="N",
                        help="images built at once (default: one per CPU)")
    parser.add_argument("--rollouts", type=int, default=0, metavar="N",
                        help=f"services deployed at once (default: all, at most {MAX_ROLLOUTS}"
                             "; rollouts wait on one batched poller)")
    parser.add_argument("--allow-downgrade", action="store_true",
                        help="deploy even when the running build comes from a newer commit")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.services), args.dry_run, max(1, args.parallel),
        args.allow_downgrade, max(0, args.rollouts), max(0, args.builds))))
