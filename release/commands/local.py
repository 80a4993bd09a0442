"""`release local up | seed | status | down`: the embedded local cloud on 127.0.0.1.

One local cloud per machine, whichever repository starts or uses it: its state lives in
``$RELEASE_LOCAL_STATE_DIR``, else ``$XDG_STATE_HOME/release/local``, else
``~/.local/state/release/local`` (``--state-dir`` for a private one). `up` and `seed` create
in it what the current repository's ``environments/local.yaml`` names.

Progress goes to stderr; the status table (or ``--output json``) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from release.errors import ReleaseError
from release.local import cloud
from release.local.seeding import LOCAL_FILE, NothingToSeedError, seed_repository
from release.local.state import (
    ECS,
    REGISTRY,
    STATE_DIR_ENV,
    STATE_FILE,
    LocalState,
    default_state_dir,
    find_repo_root,
    legacy_state_dir,
    read_state,
)

JSON_VERSION = 1
SEEDING = (
    "Then it seeds the current repository (the nearest directory with release.yaml, or "
    "--root): it creates in the cloud what that repository's environments/local.yaml names "
    "(ECR repositories, ECS clusters and services, Lambda functions with their alias, state "
    "machines, S3 buckets, SSM parameters and the deploy role), so a first `release deploy "
    "--env local` has something to update. Only when the file's aws.endpoint_url and "
    "registry.host are this cloud's; what exists is left alone, so running it again changes "
    "nothing. `release local seed` does the seeding alone."
)
WHERE = (
    "One local cloud per machine, used from any repository: its state, logs and registry "
    f"storage live in ${STATE_DIR_ENV}, else $XDG_STATE_HOME/release/local, else "
    "~/.local/state/release/local (--state-dir for a private one)."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `local` with sub-verbs up/seed/status/down; each sets ``func`` via set_defaults."""
    local = subparsers.add_parser(
        "local",
        help="run the embedded local cloud (Docker engine, registry, moto, OIDC issuer)",
        description="Start, seed, inspect and stop the local cloud that `release` can run "
                    f"against. {WHERE}",
    )
    verbs = local.add_subparsers(dest="local_verb", required=True,
                                 metavar="{up,seed,status,down}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir", type=Path, default=None,
        help=f"where state, logs and registry storage live (default: ${STATE_DIR_ENV}, else "
             "$XDG_STATE_HOME/release/local, else ~/.local/state/release/local)",
    )
    common.add_argument(
        "--output", choices=["text", "json"], default=argparse.SUPPRESS,
        help="text for people (default) or json for machines",
    )
    seeding = argparse.ArgumentParser(add_help=False)
    seeding.add_argument("--root", type=Path, default=None,
                         help="the repository to seed (default: nearest directory with "
                              "release.yaml)")
    _add_up(verbs, [common, seeding])
    seed = verbs.add_parser(
        "seed", parents=[common, seeding],
        help="create what environments/local.yaml names in the running cloud",
        description="Create, in the running local cloud, what the current repository's "
                    "environments/local.yaml names, when its aws.endpoint_url and "
                    "registry.host are the cloud's. Idempotent. Needs a running cloud "
                    f"(`release local up`). {WHERE}")
    seed.set_defaults(func=run_seed)

    status = verbs.add_parser("status", parents=[common], help="show each component and exports")
    status.set_defaults(func=run_status)

    down = verbs.add_parser("down", parents=[common], help="stop, by PID, what `up` started")
    down.set_defaults(func=run_down)


def _add_up(verbs: argparse._SubParsersAction[argparse.ArgumentParser],
            parents: list[argparse.ArgumentParser]) -> None:
    up = verbs.add_parser(
        "up", parents=parents,
        help="start what is not running yet, then seed this repository's local.yaml",
        description="Start what is not running yet of the local cloud: a Docker engine, a "
                    "registry, moto and an OIDC issuer on 127.0.0.1 (a cloud already running "
                    f"is used as it is). {SEEDING} {WHERE}")
    defaults = cloud.Options(repo_root=Path(), state_dir=Path())
    running = "the running cloud's, else"
    up.add_argument("--moto-port", type=int, default=None,
                    help=f"moto server port (default: {running} {defaults.moto_port})")
    up.add_argument("--registry-port", type=int, default=None,
                    help=f"registry port (default: {running} {defaults.registry_port})")
    up.add_argument("--oidc-port", type=int, default=None,
                    help=f"OIDC issuer port (default: {running} {defaults.oidc_port})")
    up.add_argument("--region", default=None,
                    help=f"AWS region (default: {running} {defaults.region})")
    up.add_argument("--timeout", type=float, default=defaults.timeout,
                    help=f"seconds to wait for each component (default: {defaults.timeout:g})")
    up.add_argument("--no-install", dest="install", action="store_false",
                    help="fail instead of running apt-get for missing packages")
    up.set_defaults(func=run_up)


def options_from(args: argparse.Namespace) -> cloud.Options:
    """The Options an `up` command line asks for: what it leaves out is the running cloud's."""
    state_dir = _state_dir(args)
    recorded = read_state(state_dir)
    defaults = cloud.Options(repo_root=Path(), state_dir=Path())

    def port(given: int | None, name: str, default: int) -> int:
        component = recorded.components.get(name) if recorded else None
        if given is None and component is not None and component.owned:
            return int(component.address.rpartition(":")[2])
        return default if given is None else given

    return cloud.Options(
        repo_root=_repo_root(args),
        state_dir=state_dir,
        # the AWS endpoint's port: the control plane's (moto sits behind it on its own)
        moto_port=port(args.moto_port, ECS if recorded and ECS in recorded.components
                       else "moto", defaults.moto_port),
        registry_port=port(args.registry_port, REGISTRY, defaults.registry_port),
        oidc_port=port(args.oidc_port, "oidc", defaults.oidc_port),
        region=args.region or (recorded.region if recorded else defaults.region),
        timeout=args.timeout,
        install=args.install,
    )


def run_up(args: argparse.Namespace) -> int:
    """`release local up`: start what is missing, then seed the current repository."""
    options = options_from(args)
    deps = cloud.Deps()
    result = cloud.up(options, deps)
    if result.started:
        deps.say(f"started {', '.join(result.started)} (state: {options.state_dir})")
    else:
        deps.say(f"using the local cloud already running (state: {options.state_dir})")
    try:
        seeded = seed_repository(options.repo_root, result.state, deps.say)
    except NothingToSeedError as nothing:
        deps.say(nothing.message)
        if nothing.hint:
            deps.say(f"hint: {nothing.hint}")
    else:
        deps.say(f"seeded {_summary(seeded.lines)} from {seeded.repo_root / LOCAL_FILE}")
    _print_status(result.state, cloud.observe(result.state), _output(args))
    return 0


def run_seed(args: argparse.Namespace) -> int:
    """`release local seed`: what `up` seeds, into the running cloud, alone."""
    state_dir = _state_dir(args)
    state = read_state(state_dir)
    report = cloud.observe(state) if state is not None else []
    if state is None or not report or not all(item.answers for item in report):
        raise ReleaseError(
            f"the local cloud is not running (state: {state_dir}); seeded nothing",
            hint="start it with `release local up` (it seeds this repository as well), or "
                 "pass the --state-dir it was started with")
    seeded = seed_repository(_repo_root(args), state, cloud.Deps().say)
    if _output(args) == "json":
        _write({"version": JSON_VERSION, "kind": "release.local.seed",
                "state_file": str(state_dir / STATE_FILE),
                "repo_root": str(seeded.repo_root), "resources": list(seeded.lines)})
    else:
        _write_text(f"seeded {_summary(seeded.lines)} from {seeded.repo_root / LOCAL_FILE}"
                    f" into the local cloud at {state.aws_endpoint_url}")
    return 0


def _summary(lines: tuple[str, ...]) -> str:
    existed = sum(1 for line in lines if line.endswith("(exists)"))
    return f"{len(lines)} resources ({len(lines) - existed} made, {existed} already there)"


def run_status(args: argparse.Namespace) -> int:
    """`release local status`: 0 when every component answers, 1 otherwise."""
    state_dir = _state_dir(args)
    state = read_state(state_dir)
    if state is None or not state.components:
        if _output(args) == "json":
            _write({"version": JSON_VERSION, "kind": "release.local.status",
                    "state_file": str(state_dir / STATE_FILE), "running": False, "components": []})
        else:
            _write_text(f"the local cloud is not running ({state_dir / STATE_FILE} lists nothing)")
            _write_text(_elsewhere_hint(args, state_dir))
        return 1
    report = cloud.observe(state)
    _print_status(state, report, _output(args))
    return 0 if all(item.answers for item in report) else 1


def run_down(args: argparse.Namespace) -> int:
    """`release local down`."""
    state_dir = _state_dir(args)
    reports = cloud.down(state_dir, cloud.Deps())
    if _output(args) == "json":
        _write({"version": JSON_VERSION, "kind": "release.local.down",
                "state_file": str(state_dir / STATE_FILE),
                "components": [asdict(report) for report in reports]})
        return 0
    if not reports:
        _write_text(f"nothing to stop ({state_dir / STATE_FILE} lists nothing)")
        _write_text(_elsewhere_hint(args, state_dir))
    for report in reports:
        pid = "-" if report.pid is None else str(report.pid)
        _write_text(f"{report.name:<9} {pid:>8}  {report.outcome}")
    return 0


def _state_dir(args: argparse.Namespace) -> Path:
    chosen: Path | None = args.state_dir
    return (chosen or default_state_dir(getattr(args, "environ", {}))).resolve()


def _repo_root(args: argparse.Namespace) -> Path:
    chosen: Path | None = getattr(args, "root", None)
    return find_repo_root(chosen or Path.cwd())


def _elsewhere_hint(args: argparse.Namespace, state_dir: Path) -> str:
    """Where else a cloud may be recorded: a private --state-dir, or an older release's."""
    legacy = legacy_state_dir(_repo_root(args))
    old = read_state(legacy) if legacy != state_dir else None
    if old is not None and old.components:
        return (f"# a cloud started by an older release is recorded in {legacy}: "
                f"`release local down --state-dir {legacy}` stops it")
    return "# start it with `release local up`; a private cloud: pass its --state-dir"


def _output(args: argparse.Namespace) -> str:
    return str(getattr(args, "output", None) or "text")


def _print_status(state: LocalState, report: list[cloud.ComponentStatus], output: str) -> None:
    if output == "json":
        _write(status_document(state, report))
        return
    rows = [("COMPONENT", "PID", "ADDRESS", "OWNED", "ANSWERS", "LOG")]
    for item in report:
        rows.append((
            item.name,
            "-" if item.pid is None else str(item.pid),
            item.address,
            "yes" if item.owned else "no",
            "yes" if item.answers else ("NO" if item.running else "NO (exited)"),
            item.log or "-",
        ))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        _write_text("  ".join([*cells, row[-1]]).rstrip())
    _write_text("")
    _write_text(f"# registry login: {state.registry_username} / {state.registry_password}")
    for line in state.export_lines():
        _write_text(line)


def status_document(state: LocalState, report: list[cloud.ComponentStatus]) -> dict[str, Any]:
    """The versioned JSON form of `status` (and `up`)."""
    return {
        "version": JSON_VERSION,
        "kind": "release.local.status",
        "state_file": str(Path(state.state_dir) / STATE_FILE),
        "running": all(item.answers for item in report),
        "components": [asdict(item) for item in report],
        "registry": {
            "host": state.components[REGISTRY].address if REGISTRY in state.components else None,
            "username": state.registry_username,
            "password": state.registry_password,
        },
        "environment": state.environment(),
    }


def _write(document: dict[str, Any]) -> None:
    _write_text(json.dumps(document, indent=2, sort_keys=True))


def _write_text(line: str) -> None:
    sys.stdout.write(line + "\n")
