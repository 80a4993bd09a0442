"""``release status``: what runs where: services x environments, and what lags HEAD."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.adapters import git
from release.adapters.aws import deployed as deployed_state
from release.adapters.aws.clients import AwsClients
from release.commands.plan import desired
from release.config import load_config
from release.errors import ReleaseError
from release.output import envelope, table
from release.planning.reconcile import Deployed, Desired


@dataclass(frozen=True)
class Options:
    """Which environments to look at (default: all)."""

    root: Path
    environments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    """One service in one environment."""

    deployed: Deployed | None
    current: bool  # runs the build and config HEAD wants


@dataclass(frozen=True)
class Result:
    """Per environment, per service: what runs and whether it is current."""

    commit: str
    now: float
    cells: dict[str, dict[str, Cell]]
    errors: dict[str, str]

    def to_text(self) -> str:
        """Rows are services, columns environments; each cell the commit, its age, a mark."""
        envs = sorted({*self.cells, *self.errors})
        services = sorted({s for row in self.cells.values() for s in row})
        rows = []
        for service in services:
            row = [service]
            for env in envs:
                cell = self.cells.get(env, {}).get(service)
                row.append("" if cell is None else self._cell(cell))
            rows.append(row)
        lines = [table(["SERVICE", *envs], rows)] if services else []
        lines.append(f"\nHEAD is {self.commit[:7]}; * = lags HEAD, - = not deployed")
        for env, error in sorted(self.errors.items()):
            lines.append(f"{env}: not read: {error}")
        return "\n".join(lines)

    def _cell(self, cell: Cell) -> str:
        run = cell.deployed
        if run is None or run.build_key is None:
            return "-"
        age = _age(self.now - run.deployed_at) if run.deployed_at else "?"
        return f"{(run.commit or '?')[:7]} {age}{'' if cell.current else ' *'}"

    def to_json(self) -> str:
        """Versioned JSON; ``release plan --deployed`` reads it back."""
        return envelope("status", {
            "commit": self.commit,
            "environments": {
                env: {"services": {name: (None if c.deployed is None else
                                          {**dataclasses.asdict(c.deployed), "current": c.current})
                                   for name, c in row.items()}}
                for env, row in self.cells.items()},
            "errors": self.errors})


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def run(options: Options, aws_factory: Callable[[Any], AwsClients] = AwsClients,
        clock: Callable[[], float] = time.time) -> Result:
    """Read every chosen environment; an unreachable one is reported, not fatal."""
    config = load_config(options.root, options.environments)
    snap = git.snapshot(config.root)
    cells: dict[str, dict[str, Cell]] = {}
    errors: dict[str, str] = {}
    for env in config.environments.values():
        names = sorted(env.deployments)
        if env.aws is None:
            errors[env.name] = "no aws block"
            continue
        want: dict[str, Desired] = desired(config, env, names, snap.tree)
        aws = aws_factory(env.aws)
        try:
            running = deployed_state.read(env, aws, names)
        except ReleaseError as exc:
            errors[env.name] = exc.message
            continue
        finally:
            aws.close()
        cells[env.name] = {
            n: Cell(running.get(n), _current(want[n], running.get(n))) for n in names}
    return Result(snap.commit, clock(), cells, errors)


def _current(want: Desired, run: Deployed | None) -> bool:
    return (run is not None and run.build_key == want.build_key
            and (want.config_key is None or run.config_key == want.config_key))


def register(sub: Any) -> None:
    """Add ``status`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "status", help="what runs where, and what lags HEAD",
        description="Services x environments: the commit each runs, how long ago it was "
                    "released, and whether it lags HEAD.")
    parser.add_argument("--env", action="append", default=[], metavar="NAME",
                        help="only this environment (repeatable; default: all)")
    parser.set_defaults(handler=lambda args: run(Options(args.root, tuple(args.env))))
