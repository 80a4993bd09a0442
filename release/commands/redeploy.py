"""``release redeploy``: fresh tasks on the task definition a service already runs.

For a service whose image did not change but whose data did (new files in S3): a new ECS
deployment of the same revision, waited on like a deploy. Services go in parallel and
share one batched poller; one failing does not stop the others.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.change_report import Result
from release.engine import operations
from release.engine.context import MAX_ROLLOUTS, Deps


@dataclass(frozen=True)
class Options:
    """Which services to redeploy where."""

    root: Path
    environment: str
    services: tuple[str, ...]
    parallel: int = 0  # services redeployed at once; 0: all (at most MAX_ROLLOUTS)


def run(options: Options, deps: Deps | None = None) -> Result:
    """Start a new deployment of each service's current revision and wait for all."""
    changes = operations.redeploy(options.root, options.environment, options.services,
                                  options.parallel, deps or Deps())
    return Result("redeploy", options.environment, changes)


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
        args.root, args.env, tuple(args.services), max(0, args.parallel)),
        Deps(environ=args.environ)))
