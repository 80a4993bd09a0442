"""``release deploy``: build what is missing, then bring every target up to date.

Plan first (build keys, registry, what runs now), print the plan, stop there on --dry-run;
then build and push once per service and deploy its targets, services in parallel. The
work is the engine's (``release.engine``); this module is the verb and its result.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from release import names, summary
from release.engine import apply as engine_apply
from release.engine.apply import Outcome
from release.engine.context import MAX_ROLLOUTS, Deps, build_workers
from release.engine.plan import ServicePlan, make_plan, opened, with_logins
from release.errors import EXIT_FAILED, EXIT_OK
from release.output import envelope, table

__all__ = ["Deps", "Options", "Outcome", "Result", "run"]


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
            lines.append(f"\n{changed} target{'s' * (changed != 1)} deployed to "
                         f"{self.environment}")
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


def run(options: Options, deps: Deps | None = None) -> Result:
    """Plan, print the plan, and (unless dry run) build and apply it."""
    deps = deps or Deps()
    with opened(options.root, options.environment, options.services, deps) as run_:
        ctx, logins = with_logins(run_)
        planned = make_plan(ctx, run_, logins, parallel=options.parallel,
                            allow_downgrade=options.allow_downgrade)
        _print_plan(planned.services, deps.log)
        if options.dry_run:
            done = tuple(engine_apply.ServiceResult(s) for s in planned.services)
            return Result(planned.environment, ctx.commit,
                          engine_apply.outcomes(done, deps.clock, planned=True), True)
        planned = engine_apply.build_missing(ctx, planned, logins, deps,
                                             build_workers(options.builds))
        done = engine_apply.apply(ctx, planned, options.rollouts)
        return Result(planned.environment, ctx.commit,
                      engine_apply.outcomes(done, deps.clock, planned=False))


def _print_plan(services: tuple[ServicePlan, ...], log: Callable[[str], None]) -> None:
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
        args.allow_downgrade, max(0, args.rollouts), max(0, args.builds)),
        Deps(environ=args.environ)))
