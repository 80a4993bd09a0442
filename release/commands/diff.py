"""``release diff --env ENV [SERVICE...]``: what a deploy would change, value by value.

The deploy's own plan (the same observations and decisions, nothing built or changed),
each target shown field by field: task definition fields, container environment and
secrets by name, Lambda configuration, the state machine definition as a JSON diff, S3
files by checksum. Values that look like credentials are masked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import names
from release.engine.context import Context, Deps
from release.engine.plan import ServicePlan, decide, make_plan, opened, with_logins
from release.engine.targets import Wanted
from release.errors import EXIT_FAILED, EXIT_OK
from release.output import envelope
from release.planning import ecs_strategy
from release.planning.diff import Difference


@dataclass(frozen=True)
class Options:
    """What to compare, and whether a difference sets the exit code."""

    root: Path
    environment: str
    services: tuple[str, ...] = ()
    exit_code: bool = False  # 1 when something differs (as `git diff --exit-code`)
    parallel: int = 8


@dataclass(frozen=True)
class TargetDiff:
    """One target of one service: the planned step and its differences (or why it could
    not be read)."""

    service: str
    target: str
    action: str
    reason: str
    differences: tuple[Difference, ...] = ()
    message: str = ""
    hint: str | None = None
    strategy: str = ""  # ECS: how traffic would move, and the gates (ecs.deployment)

    @property
    def differs(self) -> bool:
        """True when a deploy would change this target."""
        return self.action not in {"none", "error"}


@dataclass(frozen=True)
class Result:
    """Every target's differences; the exit code follows ``--exit-code``."""

    environment: str
    commit: str
    targets: tuple[TargetDiff, ...]
    exit_on_difference: bool = False

    @property
    def exit_code(self) -> int:
        """1 when a service could not be read, or (with --exit-code) when something differs."""
        if any(t.action == "error" for t in self.targets):
            return EXIT_FAILED
        if self.exit_on_difference and any(t.differs for t in self.targets):
            return EXIT_FAILED
        return EXIT_OK

    def to_text(self) -> str:
        """Per target a heading (service, target, action), then one line per difference."""
        lines = []
        for t in self.targets:
            if t.action == "error":
                lines.append(f"{t.service}: cannot compare: {names.printable(t.message)}")
                if t.hint:
                    lines.append(f"  hint: {names.printable(t.hint)}")
                continue
            if not t.differs:
                lines.append(f"{t.service} {t.target}: up to date")
                continue
            lines.append(f"{t.service} {t.target}: {t.action} ({names.printable(t.reason)})")
            if t.strategy:
                lines.append(f"  strategy: {names.printable(t.strategy)}")
            lines += [f"  {d.describe()}" for d in t.differences]
        changed = sum(t.differs for t in self.targets)
        lines.append(f"\n{changed} of {len(self.targets)} targets would change in "
                     f"{self.environment}" if self.targets else "nothing deployed here")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON: one entry per target, each difference with path, before, after."""
        return envelope("diff", {
            "environment": self.environment, "commit": self.commit,
            "differs": any(t.differs for t in self.targets),
            "targets": [{**dataclasses.asdict(t), "differs": t.differs}
                        for t in self.targets]})

    def github_outputs(self) -> dict[str, str]:
        """``differs`` (true/false) and the services that would change."""
        changed = sorted({t.service for t in self.targets if t.differs})
        return {"differs": json.dumps(bool(changed)), "services": json.dumps(changed)}


def run(options: Options, deps: Deps | None = None) -> Result:
    """Plan as a deploy would and show each planned change, value by value."""
    deps = deps or Deps()
    with opened(options.root, options.environment, options.services, deps) as run_:
        ctx, logins = with_logins(run_)
        planned = make_plan(ctx, run_, logins, parallel=options.parallel, allow_downgrade=True)
        out = [d for svc in planned.services for d in _differences(ctx, svc)]
    return Result(planned.environment, planned.commit, tuple(out), options.exit_code)


def _differences(ctx: Context, svc: ServicePlan) -> list[TargetDiff]:
    if svc.error is not None:
        return [TargetDiff(svc.dep.name, ",".join(svc.dep.service.targets), "error", "",
                           message=svc.error.message, hint=svc.error.hint)]
    if svc.image is not None and svc.image.digest is None:
        # Not built yet: compare against the tag the build would push, so that every other
        # field of the change shows too.
        host = ctx.env.registry_of(svc.dep).host
        svc = decide(ctx, svc, Wanted(f"{host}/{svc.image.repository}:{svc.image.build_key}",
                                      svc.image.build_key))
    strategy = ecs_strategy.describe(svc.dep.ecs.deployment) if svc.dep.ecs else ""
    return [TargetDiff(svc.dep.name, t.step.target, t.step.action, t.step.reason,
                       tuple(t.kind.differences(t.decision, ()))
                       if t.step.action != "none" else (),
                       strategy=strategy if t.step.target == "ecs" else "")
            for t in svc.targets]


def register(sub: Any) -> None:
    """Add ``diff`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "diff", help="show what a deploy would change, value by value",
        description="Observe what the environment runs and show, per target, what a deploy "
                    "would change: task definition fields, environment variables and secrets "
                    "by name, Lambda configuration, state machine definitions, S3 files by "
                    "checksum. Builds nothing and changes nothing.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help="only these services (default: all of the environment)")
    parser.add_argument("--exit-code", action="store_true",
                        help="exit 1 when something differs (0 when nothing would change)")
    parser.add_argument("--parallel", type=int, default=8, metavar="N",
                        help="registry and cloud reads at once (default: 8)")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.services), args.exit_code, max(1, args.parallel)),
        Deps(environ=args.environ)))
