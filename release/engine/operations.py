"""Operations on what already runs: roll a service back (each target kind that keeps
versions puts the previous one back) and redeploy (fresh ECS tasks of the same revision)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from release.adapters.aws import ecs, ecs_address
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.config import load_config
from release.engine import targets
from release.engine.context import MAX_ROLLOUTS, Context, Deps, select
from release.engine.targets import Change
from release.engine.targets.ecs import redeploy as redeploy_service
from release.errors import UsageError


@contextmanager
def aws_context(root: Path, environment: str, deps: Deps) -> Iterator[Context]:
    """A context on the environment's AWS account (checked to have one), with one batched
    ECS poller; the clients are closed on the way out."""
    config = load_config(root, (environment,))
    env = config.environments[environment]
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block", "this command needs an AWS account")
    aws = deps.clients(env)
    try:
        yield Context(config, env, aws, "", deps.clock, deps.sleep, deps.log, deps.random,
                      RolloutWatcher(lambda: aws.client("ecs"), Pace(deps.clock, deps.sleep)),
                      environ=deps.environ)
    finally:
        aws.close()


def rollback(root: Path, environment: str, service: str, to: str | None,
             deps: Deps) -> tuple[Change, ...]:
    """Put the previous version (or ``to``) of every target of ``service`` that keeps
    versions back (ECS: a rollout waited on; Lambda: the alias moved; a Docker host: the
    kept previous container started again)."""
    with _rollback_context(root, environment, service, deps) as ctx:
        [dep] = select(ctx.env, (service,))
        if dep.ecs is None and dep.lambda_ is None and dep.docker_host is None:
            raise UsageError(f"{dep.name} has no ECS service, Lambda function or Docker host "
                             f"in {ctx.env.name}",
                             "rollback applies to ECS services, Lambda aliases and Docker "
                             "hosts")
        changes = (kind.rollback(ctx, dep, to) for kind in targets.of(dep.service.targets))
        return tuple(c for c in changes if c is not None)


@contextmanager
def _rollback_context(root: Path, environment: str, service: str,
                      deps: Deps) -> Iterator[Context]:
    """The AWS context when the service has an AWS target; else one without AWS (a service
    only on a Docker host needs no account)."""
    config = load_config(root, (environment,))
    env = config.environments[environment]
    [dep] = select(env, (service,))
    if dep.needs_aws:
        with aws_context(root, environment, deps) as ctx:
            yield ctx
        return
    yield Context(config, env, None, "", deps.clock, deps.sleep, deps.log, deps.random,
                  environ=deps.environ)


def redeploy(root: Path, environment: str, services: tuple[str, ...], parallel: int,
             deps: Deps) -> tuple[Change, ...]:
    """Start a new deployment of each service's current revision and wait for all; one
    failing does not stop the others. Every URL is looked up at once, after the rollouts."""
    with aws_context(root, environment, deps) as opened:
        chosen = select(opened.env, services)
        without = [d.name for d in chosen if d.ecs is None]
        if without:
            raise UsageError(f"{', '.join(without)}: no ECS service in {opened.env.name}",
                             "redeploy starts fresh ECS tasks; for Lambda run `release deploy`")
        ctx = dataclasses.replace(opened, ecs_reads=ecs.Reads(lambda: opened.client("ecs"), [
            (d.ecs.cluster, d.ecs.service) for d in chosen if d.ecs is not None]))
        at_once = min(parallel or len(chosen), MAX_ROLLOUTS)
        with ThreadPoolExecutor(max_workers=max(1, at_once)) as pool:
            done = list(pool.map(lambda d: redeploy_service(ctx, d), chosen))
        reached = [(i, spot) for i, (_, spot) in enumerate(done) if spot is not None]
        urls = ecs_address.service_urls(ctx.client, [spot for _, spot in reached])
        changes = [change for change, _ in done]
        for (i, _), url in zip(reached, urls, strict=True):
            changes[i] = dataclasses.replace(changes[i], url=url)
        return tuple(changes)
