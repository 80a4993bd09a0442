"""``release status``: what runs where: services x environments, and what lags HEAD."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.adapters import docker_host_deployed as docker_hosts
from release.adapters import git
from release.adapters.aws import deployed as deployed_state
from release.adapters.aws.clients import AwsClients
from release.config import Environment, load_config
from release.engine.keys import desired
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError
from release.names import printable
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
    errors: dict[str, str]  # environment -> why it was not read
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # nothing to read there
    notes: tuple[str, ...] = ()  # what was read but not believed (a malformed tag)
    hint: str = ""  # how to read the environments in ``errors``

    @property
    def exit_code(self) -> int:
        """1 when an environment could not be read: the table is not the whole answer."""
        return EXIT_FAILED if self.errors else EXIT_OK

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
        lines.append(f"\nHEAD is {self.commit[:7]}; * = lags HEAD, - = not deployed, "
                     "missing = not in the cloud")
        lines += [f"note: {printable(note)}" for note in self.notes]
        for env, why in sorted(self.skipped.items()):
            lines.append(f"{env}: skipped: {why}")
        for env, error in sorted(self.errors.items()):
            lines.append(f"{env}: not read: {printable(error)}")
        if self.errors and self.hint:
            lines += [f"{'hint: ' if i == 0 else '      '}{line}"
                      for i, line in enumerate(self.hint.splitlines())]
        return "\n".join(lines)

    def _cell(self, cell: Cell) -> str:
        run = cell.deployed
        if run is not None and run.missing:
            return "missing"
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
            "errors": self.errors, "skipped": self.skipped, "notes": list(self.notes)})


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def run(options: Options, aws_factory: Callable[[Any], AwsClients] = AwsClients,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None) -> Result:
    """Read every chosen environment (AWS, and Docker hosts through SSH). One that cannot
    be read is reported beside the others (exit 1); when none can be, that is the error."""
    config = load_config(options.root, options.environments)
    snap = git.snapshot(config.root)
    cells: dict[str, dict[str, Cell]] = {}
    errors: dict[str, str] = {}
    skipped: dict[str, str] = {}
    hints: list[str] = []
    notes: list[str] = []
    for env in config.environments.values():
        names = sorted(env.deployments)
        if env.aws is None and not docker_hosts.on_hosts(env, names):
            why = f"{env.path} has no aws block: status reads what runs in AWS"
            if options.environments:  # asked for by name: an answer we cannot give
                errors[env.name] = why
            else:
                skipped[env.name] = why
            continue
        want: dict[str, Desired] = desired(config, env, names, snap.tree)
        try:
            running = docker_hosts.merged(
                env, _aws_state(env, names, aws_factory, notes),
                docker_hosts.read(env, names, environ or {}))
        except ReleaseError as exc:
            errors[env.name] = exc.message
            if exc.hint and exc.hint not in hints:
                hints.append(exc.hint)
            continue
        cells[env.name] = {
            n: Cell(running.get(n), _current(want[n], running.get(n))) for n in names}
    hint = "\n".join(hints) or "check the credentials and the aws block of each environment"
    if errors and not cells:
        raise ReleaseError("status read nothing: " + "; ".join(
            f"{env}: {printable(error)}" for env, error in sorted(errors.items())), hint)
    return Result(snap.commit, clock(), cells, errors, skipped, tuple(notes), hint)


def _aws_state(env: Environment, names: list[str], aws_factory: Callable[[Any], AwsClients],
               notes: list[str]) -> dict[str, Deployed | None]:
    """What the environment's AWS targets record ({} without an aws block)."""
    if env.aws is None:
        return {}
    aws = aws_factory(env.aws)
    try:
        return deployed_state.read(env, aws, names, notes.append)
    finally:
        aws.close()


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
    parser.set_defaults(handler=lambda args: run(
        Options(args.root, tuple(args.env)),
        lambda account: AwsClients(account, environ=args.environ), environ=args.environ))
