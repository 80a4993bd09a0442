"""``release rollback``: put a service's previous revision (or a chosen one) back.

ECS: the newest revision of the family below the one running (or ``--to N``), rolled out
and waited on like a deploy. Lambda: the alias moves back to the previous version.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from release.adapters.aws import ecs, ecs_address, ecs_rollout, lambda_
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.commands.deploy import Deps, select
from release.config import load_config
from release.config.model import Environment, ServiceDeployment
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.output import envelope, table
from release.planning import rollout


@dataclass(frozen=True)
class Options:
    """Which service to roll back where, and to what."""

    root: Path
    environment: str
    service: str
    to: str | None = None  # ECS revision number or Lambda version


@dataclass(frozen=True)
class Change:
    """What one target ran before and runs now."""

    service: str
    target: str
    before: str
    after: str
    status: str  # rolled-back | unchanged | failed | deployed
    message: str = ""
    hint: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Result:
    """Every target's change; exit code 1 when any failed."""

    command: str
    environment: str
    changes: tuple[Change, ...]

    @property
    def exit_code(self) -> int:
        """1 when any target failed."""
        return EXIT_FAILED if any(c.status == "failed" for c in self.changes) else EXIT_OK

    def to_text(self) -> str:
        """A table, then each failure's message and hint, then the URLs."""
        lines = [table(["SERVICE", "TARGET", "BEFORE", "AFTER", "STATUS"],
                       [(c.service, c.target, c.before, c.after, c.status)
                        for c in self.changes])]
        for c in self.changes:
            if c.status == "failed":
                lines.append(f"\n{c.service} {c.target}: {c.message}")
                if c.hint:
                    lines.append(f"  hint: {c.hint}")
            if c.url:
                lines.append(f"\n{c.service}: {c.url}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON: one entry per target."""
        return envelope(self.command, {"environment": self.environment,
                                       "results": [asdict(c) for c in self.changes]})

    def github_outputs(self) -> dict[str, str]:
        """The results, and the URL of the service when there is one."""
        outputs = {"results": json.dumps([asdict(c) for c in self.changes])}
        urls = [c.url for c in self.changes if c.url]
        if urls:
            outputs["service-url"] = urls[0]
        return outputs


def environment(root: Path, name: str) -> Environment:
    """The environment, checked to have an AWS account."""
    env = load_config(root, (name,)).environments[name]
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block", "this command needs an AWS account")
    return env


def watcher_for(aws: Any, deps: Deps) -> RolloutWatcher:
    """One batched poller on the command's clock."""
    return RolloutWatcher(lambda: aws.client("ecs"), Pace(deps.clock, deps.sleep))


def run(options: Options, deps: Deps | None = None) -> Result:
    """Roll every target of the service back; ECS waits for the rollout."""
    deps = deps or Deps()
    env = environment(options.root, options.environment)
    [dep] = select(env, (options.service,))
    if dep.ecs is None and dep.lambda_ is None:
        raise UsageError(f"{dep.name} has no ECS service or Lambda function in {env.name}",
                         "rollback applies to ECS services and Lambda aliases")
    aws = deps.aws(env)
    try:
        changes = []
        if dep.ecs is not None:
            changes.append(_ecs(aws, dep, options.to, deps))
        if dep.lambda_ is not None:
            changes.append(_lambda(aws, dep, options.to, deps))
    finally:
        aws.close()
    return Result("rollback", env.name, tuple(changes))


def _ecs(aws: Any, dep: ServiceDeployment, to: str | None, deps: Deps) -> Change:
    assert dep.ecs is not None  # noqa: S101
    client = aws.client("ecs")
    seen = ecs.describe(client, dep.ecs.cluster, dep.ecs.service)
    current = seen.task_definition_arn
    revisions = ecs.family_revisions(client, dep.ecs.family)
    wanted = rollout.previous_revision(current, revisions, _number(to))
    if wanted is None:
        shown = ", ".join(rollout.revision(a) for a in revisions[:5]) or "none"
        raise ReleaseError(
            f"{dep.name}: no revision {to} of {dep.ecs.family}" if to else
            f"{dep.name}: no previous revision of {dep.ecs.family} before "
            f"{rollout.revision(current)}",
            f"active revisions (newest first): {shown}")
    before = rollout.revision(current)
    if wanted == current:
        return Change(dep.name, "ecs", before, before, "unchanged", "already runs it")
    deps.log(f"{dep.name}: rolling back from {before} to {rollout.revision(wanted)}")
    rollouts = ecs_rollout.Rollouts(client, watcher_for(aws, deps), deps.log)
    target = ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds)
    try:
        described = rollouts.roll_out(target, wanted,
                                      ecs_rollout.Before(current, seen.rollback_on_failure))
    except ReleaseError as exc:
        return Change(dep.name, "ecs", before, rollout.revision(wanted), "failed", exc.message,
                      exc.hint)
    return Change(dep.name, "ecs", before, rollout.revision(wanted), "rolled-back",
                  url=ecs_address.service_url(aws.client, dep.ecs.cluster, described))


def _lambda(aws: Any, dep: ServiceDeployment, to: str | None, deps: Deps) -> Change:
    assert dep.lambda_ is not None  # noqa: S101
    lam, function, alias = aws.client("lambda"), dep.lambda_.function, dep.lambda_.alias
    seen = lambda_.describe(lam, function, alias)
    versions = lambda_.published_versions(lam, function)
    wanted = rollout.previous_version(seen.alias_version, versions, to)
    if wanted is None:
        raise ReleaseError(
            f"{dep.name}: no version {to} of {function}" if to else
            f"{dep.name}: no version of {function} before {seen.alias_version}",
            f"published versions: {', '.join(versions) or 'none'}")
    before = f"version {seen.alias_version}"
    if wanted == seen.alias_version:
        return Change(dep.name, "lambda", before, before, "unchanged", "already runs it")
    deps.log(f"{dep.name}: moving alias {alias} from {seen.alias_version} to {wanted}")
    lambda_.point_alias(lam, function, alias, wanted)
    return Change(dep.name, "lambda", before, f"version {wanted}", "rolled-back")


def _number(to: str | None) -> int | None:
    if to is None:
        return None
    if not to.isdigit():
        raise UsageError(f"--to {to}: not a revision number", "give the N of family:N")
    return int(to)


def register(sub: Any) -> None:
    """Add ``rollback`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "rollback", help="put a service's previous revision back",
        description="ECS: roll the service out to the previous revision of its family (or "
                    "--to N) and wait for it. Lambda: move the alias to the previous version "
                    "(or --to N).")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("service", metavar="SERVICE", help="the service to roll back")
    parser.add_argument("--to", metavar="REVISION", default=None,
                        help="ECS revision or Lambda version (default: the previous one)")
    parser.set_defaults(handler=lambda args: run(Options(args.root, args.env, args.service,
                                                         args.to)))

