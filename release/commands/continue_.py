"""``release continue``: let an ECS service deployment paused at a hook go on, and wait for
it to end (ContinueServiceDeployment)."""

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
    """Which service's paused deployment to continue, where."""

    root: Path
    environment: str
    service: str


def run(options: Options, deps: Deps | None = None) -> Result:
    """Continue the paused deployment and follow it to its end."""
    changes = ecs_control.continue_deployment(options.root, options.environment,
                                              options.service, deps or Deps())
    return Result("continue", options.environment, changes)


def register(sub: Any) -> None:
    """Add ``continue`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "continue", help="let an ECS deployment paused at a hook go on",
        description="ECS: the service's deployment in progress, paused at a pause hook, goes "
                    "on (ContinueServiceDeployment); then wait for it like a deploy.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("service", metavar="SERVICE", help="the service")
    parser.set_defaults(handler=lambda args: run(Options(args.root, args.env, args.service),
                                                 Deps(environ=args.environ)))
