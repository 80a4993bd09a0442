"""``release stop``: stop an ECS service deployment under way (StopServiceDeployment), rolling
it back to the previous revision with ``--rollback``, and wait for it to end."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.change_report import Change, Result
from release.engine import ecs_control
from release.engine.context import Deps

__all__ = ["Change", "Deps", "Options", "Result", "run"]


@dataclass(frozen=True)
class Options:
    """Which service's deployment to stop, where, and whether to roll it back."""

    root: Path
    environment: str
    service: str
    rollback: bool = False


def run(options: Options, deps: Deps | None = None) -> Result:
    """Stop the deployment and follow it to its end."""
    changes = ecs_control.stop_deployment(options.root, options.environment, options.service,
                                          rollback=options.rollback, deps=deps or Deps())
    return Result("stop", options.environment, changes)


def register(sub: Any) -> None:
    """Add ``stop`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "stop", help="stop an ECS deployment under way (--rollback: put the old one back)",
        description="ECS: stop the service's deployment in progress (StopServiceDeployment "
                    "ABORT, or ROLLBACK with --rollback: traffic back to the previous "
                    "revision); then wait for it to end.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("service", metavar="SERVICE", help="the service")
    parser.add_argument("--rollback", action="store_true",
                        help="roll back to the previous revision (default: abort)")
    parser.set_defaults(handler=lambda args: run(
        Options(args.root, args.env, args.service, args.rollback), Deps(environ=args.environ)))
