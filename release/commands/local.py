"""`release local up | status | down`: the embedded local cloud on 127.0.0.1.

Progress goes to stderr; the status table (or ``--output json``) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from release.local import cloud
from release.local.state import (
    REGISTRY,
    STATE_FILE,
    LocalState,
    default_state_dir,
    find_repo_root,
    read_state,
)

JSON_VERSION = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `local` with sub-verbs up/status/down; each sets ``func`` via set_defaults."""
    local = subparsers.add_parser(
        "local",
        help="run the embedded local cloud (Docker engine, registry, moto, OIDC issuer)",
        description="Start, inspect and stop the local cloud that `release` can run against.",
    )
    verbs = local.add_subparsers(dest="local_verb", required=True, metavar="{up,status,down}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir", type=Path, default=None,
        help="where state, logs and registry storage live (default: <repo>/.release/local)",
    )
    common.add_argument(
        "--output", choices=["text", "json"], default=argparse.SUPPRESS,
        help="text for people (default) or json for machines",
    )

    up = verbs.add_parser("up", parents=[common], help="start what is not running yet")
    defaults = cloud.Options(repo_root=Path(), state_dir=Path())
    up.add_argument("--moto-port", type=int, default=defaults.moto_port,
                    help=f"moto server port (default: {defaults.moto_port})")
    up.add_argument("--registry-port", type=int, default=defaults.registry_port,
                    help=f"registry port (default: {defaults.registry_port})")
    up.add_argument("--oidc-port", type=int, default=defaults.oidc_port,
                    help=f"OIDC issuer port (default: {defaults.oidc_port})")
    up.add_argument("--region", default=defaults.region,
                    help=f"AWS region (default: {defaults.region})")
    up.add_argument("--timeout", type=float, default=defaults.timeout,
                    help=f"seconds to wait for each component (default: {defaults.timeout:g})")
    up.add_argument("--no-install", dest="install", action="store_false",
                    help="fail instead of running apt-get for missing packages")
    up.set_defaults(func=run_up)

    status = verbs.add_parser("status", parents=[common], help="show each component and exports")
    status.set_defaults(func=run_status)

    down = verbs.add_parser("down", parents=[common], help="stop, by PID, what `up` started")
    down.set_defaults(func=run_down)


def options_from(args: argparse.Namespace, cwd: Path) -> cloud.Options:
    """The Options an `up` command line asks for."""
    repo_root = find_repo_root(cwd)
    return cloud.Options(
        repo_root=repo_root,
        state_dir=_state_dir(args, repo_root),
        moto_port=args.moto_port,
        registry_port=args.registry_port,
        oidc_port=args.oidc_port,
        region=args.region,
        timeout=args.timeout,
        install=args.install,
    )


def run_up(args: argparse.Namespace) -> int:
    """`release local up`."""
    options = options_from(args, Path.cwd())
    result = cloud.up(options, cloud.Deps())
    started = ", ".join(result.started) or "nothing (all running)"
    cloud.Deps().say(f"started {started}")
    _seed_examples(options.repo_root, result.state)
    _print_status(result.state, cloud.observe(result.state), _output(args))
    return 0


def _seed_examples(repo_root: Path, state: LocalState) -> None:
    """Create what environments/local.yaml points at, when it points at this cloud."""
    from release.adapters.aws.clients import AwsClients
    from release.config import load_config
    from release.config.load import environment_files
    from release.local.seed import Trust, seed

    if "local" not in environment_files(repo_root):
        return
    config = load_config(repo_root, ("local",))
    env = config.environments["local"]
    if env.aws is None or env.aws.endpoint_url != state.aws_endpoint_url:
        cloud.Deps().say("environments/local.yaml points elsewhere; created no infrastructure")
        return
    clients = AwsClients(env.aws)
    try:
        seed(config, env, clients, cloud.Deps().say, Trust.of(state))
    finally:
        clients.close()


def run_status(args: argparse.Namespace) -> int:
    """`release local status`: 0 when every component answers, 1 otherwise."""
    state_dir = _state_dir(args, find_repo_root(Path.cwd()))
    state = read_state(state_dir)
    if state is None or not state.components:
        if _output(args) == "json":
            _write({"version": JSON_VERSION, "kind": "release.local.status",
                    "state_file": str(state_dir / STATE_FILE), "running": False, "components": []})
        else:
            _write_text(f"the local cloud is not running ({state_dir / STATE_FILE} lists nothing)")
        return 1
    report = cloud.observe(state)
    _print_status(state, report, _output(args))
    return 0 if all(item.answers for item in report) else 1


def run_down(args: argparse.Namespace) -> int:
    """`release local down`."""
    state_dir = _state_dir(args, find_repo_root(Path.cwd()))
    reports = cloud.down(state_dir, cloud.Deps())
    if _output(args) == "json":
        _write({"version": JSON_VERSION, "kind": "release.local.down",
                "state_file": str(state_dir / STATE_FILE),
                "components": [asdict(report) for report in reports]})
        return 0
    if not reports:
        _write_text("nothing to stop")
    for report in reports:
        pid = "-" if report.pid is None else str(report.pid)
        _write_text(f"{report.name:<9} {pid:>8}  {report.outcome}")
    return 0


def _state_dir(args: argparse.Namespace, repo_root: Path) -> Path:
    chosen: Path | None = args.state_dir
    return (chosen or default_state_dir(repo_root)).resolve()


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
