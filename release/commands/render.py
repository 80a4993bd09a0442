"""``release render``: the task definition a deploy would register, without calling AWS."""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import load_config
from release.engine.rendering import check_rendered, default_image, render_for
from release.errors import ConfigError, UsageError


@dataclass(frozen=True)
class Options:
    """Which service's task definition to render, for which environment."""

    root: Path
    environment: str
    service: str
    image: str | None = None


@dataclass(frozen=True)
class Result:
    """The RegisterTaskDefinition input."""

    task_definition: dict[str, Any]
    notices: tuple[str, ...] = ()  # printed on stderr by the CLI

    def to_text(self) -> str:
        """Indented JSON, as `aws ecs register-task-definition --cli-input-json` takes it."""
        return json.dumps(self.task_definition, indent=2)

    def to_json(self) -> str:
        """The same JSON (it is already for machines)."""
        return self.to_text()


def run(options: Options) -> Result:
    """Render the task definition of one service in one environment."""
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    ecs_services = [n for n, d in env.deployments.items() if d.ecs]
    found = env.deployments.get(options.service)
    if found is not None and found.ecs is None:
        raise UsageError(f"'{options.service}' deploys to {', '.join(found.service.targets)} "
                         f"in {env.name}, not to ECS: there is no task definition to render",
                         "`release diff --env ENV SERVICE` shows what a deploy would change "
                         "for any target")
    if options.service not in ecs_services:
        close = difflib.get_close_matches(options.service, ecs_services, n=1)
        raise UsageError(f"'{options.service}' is not deployed to ECS in {env.name}",
                         f"did you mean '{close[0]}'?" if close else
                         f"ECS services in {env.path}: {', '.join(ecs_services) or 'none'}")
    problems = check_rendered(config, env, options.service)
    if problems:
        raise ConfigError(problems)
    image = options.image or default_image(config, env, options.service)
    rendered, _ = render_for(config, env, options.service, image)
    return Result(rendered, config.notices)


def register(sub: Any) -> None:
    """Add ``render`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "render", help="print the task definition a deploy would register",
        description="Render base template + environment values into the "
                    "RegisterTaskDefinition input, checked against the ECS API model.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("service", help="service name from release.yaml")
    parser.add_argument("--image", help="image to put in the container "
                        "(default: <registry>/<repository>:<build key of this tree>)")
    parser.set_defaults(handler=lambda args: run(
        Options(args.root, args.env, args.service, args.image)))
