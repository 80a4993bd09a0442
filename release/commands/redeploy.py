"""``release redeploy``: fresh tasks on the task definition a service already runs.

For a service whose image did not change but whose data did (new files in S3): a new ECS
deployment of the same revision, waited on like a deploy. Services go in parallel and
share one batched poller; one failing does not stop the others.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from release.adapters.aws import ecs, ecs_address, ecs_rollout
from release.adapters.aws.ecs_watch import RolloutWatcher
from release.commands.deploy import MAX_ROLLOUTS, Deps, select
from release.commands.rollback import Change, Result, environment, watcher_for
from release.config.model import ServiceDeployment
from release.errors import ReleaseError, UsageError
from release.planning import rollout


@dataclass(frozen=True)
class Options:
    """Which services to redeploy where."""

    root: Path
    environment: str
    services: tuple[str, ...]
    parallel: int = 0  # services redeployed at once; 0: all (at most deploy's MAX_ROLLOUTS)


def run(options: Options, deps: Deps | None = None) -> Result:
    """Start a new deployment of each service's current revision and wait for all."""
    deps = deps or Deps()
    env = environment(options.root, options.environment)
    chosen = select(env, options.services)
    without = [d.name for d in chosen if d.ecs is None]
    if without:
        raise UsageError(f"{', '.join(without)}: no ECS service in {env.name}",
                         "redeploy starts fresh ECS tasks; for Lambda run `release deploy`")
    aws = deps.aws(env)
    try:
        watcher = watcher_for(aws, deps)
        reads = ecs.Reads(lambda: aws.client("ecs"), [
            (d.ecs.cluster, d.ecs.service) for d in chosen if d.ecs is not None])
        at_once = min(options.parallel or len(chosen), MAX_ROLLOUTS)
        with ThreadPoolExecutor(max_workers=max(1, at_once)) as pool:
            done = list(pool.map(lambda d: _redeploy(aws, watcher, reads, d, deps), chosen))
        # every service's URL at once, after the rollouts
        reached = [(i, spot) for i, (_, spot) in enumerate(done) if spot is not None]
        urls = ecs_address.service_urls(aws.client, [spot for _, spot in reached])
        changes = [change for change, _ in done]
        for (i, _), url in zip(reached, urls, strict=True):
            changes[i] = replace(changes[i], url=url)
    finally:
        aws.close()
    return Result("redeploy", env.name, tuple(changes))


def _redeploy(aws: Any, watcher: RolloutWatcher, reads: ecs.Reads, dep: ServiceDeployment,
              deps: Deps) -> tuple[Change, tuple[str, dict[str, Any]] | None]:
    assert dep.ecs is not None  # noqa: S101 - run() checks
    client = aws.client("ecs")
    try:
        found = reads.service(dep.ecs.cluster, dep.ecs.service)
        if found is None:
            raise ecs.missing(dep.ecs.cluster, dep.ecs.service)
        seen = ecs.describe(client, dep.ecs.cluster, dep.ecs.service, found=found)
        current = seen.task_definition_arn
        described = ecs_rollout.Rollouts(client, watcher, deps.log).roll_out(
            ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds),
            current, ecs_rollout.Before(None, seen.rollback_on_failure))
    except ReleaseError as exc:
        return Change(dep.name, "ecs", "", "", "failed", exc.message, exc.hint), None
    revision = rollout.revision(current)
    return (Change(dep.name, "ecs", revision, revision, "deployed"),
            (dep.ecs.cluster, described))


def register(sub: Any) -> None:
    """Add ``redeploy`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "redeploy", help="start fresh tasks of what a service already runs",
        description="A new ECS deployment of each service's current task definition (fresh "
                    "tasks, e.g. after new data in S3), waited on like a deploy.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("services", nargs="+", metavar="SERVICE", help="services to redeploy")
    parser.add_argument("--parallel", type=int, default=0, metavar="N",
                        help=f"services redeployed at once (default: all, at most "
                             f"{MAX_ROLLOUTS}; rollouts wait on one batched poller)")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.services), max(0, args.parallel))))
