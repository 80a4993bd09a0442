"""``release rollback``: put a service's previous revision (or a chosen one) back.

ECS: the newest revision of the family below the one running (or ``--to N``), rolled out
and waited on like a deploy. Lambda: the alias moves back to the previous version.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.change_report import Change, Result
from release.engine import operations
from release.engine.context import Deps

__all__ = ["Change", "Deps", "Options", "Result", "run"]


@dataclass(frozen=True)
class Options:
    """Which service to roll back where, and to what."""

    root: Path
    environment: str
    service: str
    to: str | None = None  # ECS revision number or Lambda version


def run(options: Options, deps: Deps | None = None) -> Result:
    """Roll every target of the service back; ECS waits for the rollout."""
    deps = deps or Deps()
    changes = operations.rollback(options.root, options.environment, options.service,
                                  options.to, deps)
    return Result("rollback", options.environment, changes)


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
                                                         args.to), Deps(environ=args.environ)))

