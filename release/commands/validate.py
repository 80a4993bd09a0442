"""``release validate``: check release.yaml and the environment files, all problems at once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import load_config
from release.engine import rendering, template_notes
from release.errors import ConfigError, Problem
from release.output import envelope, table


@dataclass(frozen=True)
class Options:
    """What to validate."""

    root: Path
    environments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One target of one service in one environment."""

    environment: str
    service: str
    target: str
    detail: str


@dataclass(frozen=True)
class Result:
    """The valid configuration, summarised per environment, service and target."""

    rows: tuple[Row, ...]
    notices: tuple[str, ...] = ()  # printed on stderr by the CLI

    def to_text(self) -> str:
        """A table: environment x service x target."""
        if not self.rows:
            return "configuration is valid; no environment deploys any service"
        body = table(["ENVIRONMENT", "SERVICE", "TARGET", "DEPLOYS TO"],
                     [(r.environment, r.service, r.target, r.detail) for r in self.rows])
        envs = len({r.environment for r in self.rows})
        return (f"{body}\n\nconfiguration is valid: {envs} environment{'s' * (envs != 1)}, "
                f"{len(self.rows)} target{'s' * (len(self.rows) != 1)}")

    def to_json(self) -> str:
        """Versioned JSON envelope."""
        data: list[dict[str, Any]] = [r.__dict__ for r in self.rows]
        return envelope("validate", data)


def run(options: Options) -> Result:
    """Load and check everything; raise ``ConfigError`` with every problem found."""
    config = load_config(options.root, options.environments)
    problems: list[tuple[Problem, str]] = []
    rows = []
    for env in config.environments.values():
        for name, dep in env.deployments.items():
            if dep.ecs is not None:
                problems.extend((p, env.name) for p in rendering.check_rendered(
                    config, env, name, say_env=False))
                rows.append(Row(env.name, name, "ecs",
                                f"{dep.ecs.cluster}/{dep.ecs.service} ({dep.ecs.family})"))
            if dep.lambda_ is not None:
                rows.append(Row(env.name, name, "lambda",
                                f"{dep.lambda_.function}:{dep.lambda_.alias}"))
            if dep.step_functions is not None:
                rows.append(Row(env.name, name, "step_functions",
                                dep.step_functions.state_machine))
            if dep.s3 is not None:
                rows.append(Row(env.name, name, "s3_files", f"s3://{dep.s3.bucket}"))
            if dep.azure_container_app is not None:
                app = dep.azure_container_app
                rows.append(Row(env.name, name, "azure_container_app",
                                f"{app.resource_group}/{app.name}"))
    if problems:
        raise ConfigError(template_notes.merged(problems))
    return Result(tuple(rows), (*config.notices, *template_notes.notes(config)))


def register(sub: Any) -> None:
    """Add ``validate`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate", help="check release.yaml and environments/*.yaml",
        description="Validate release.yaml and every environment file (or those named with "
                    "--env) against the JSON Schemas and each other. Reports all problems.")
    parser.add_argument("--env", action="append", default=[], metavar="NAME",
                        help="only this environment (repeatable; default: all)")
    parser.set_defaults(handler=lambda args: run(Options(args.root, tuple(args.env))))
