"""``release render``: the task definition a deploy would register, without calling AWS."""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.adapters import git
from release.adapters.aws import shapes
from release.config import Config, Environment, load_config
from release.config.source import Source, SourceError, dotted, read_source
from release.errors import ConfigError, Problem, UsageError
from release.planning import buildkey, taskdef


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


def placeholders(env: Environment, service: str) -> dict[str, str]:
    """Values for ``${...}`` in templates: the environment's vars and the built-ins."""
    values = {**env.vars, "env": env.name, "service": service}
    if env.aws is not None:
        values |= {"region": env.aws.region, "account_id": env.aws.account_id}
    return values


def render_for(config: Config, env: Environment, service: str, image: str,
               tags: dict[str, str] | None = None) -> tuple[dict[str, Any], Source]:
    """Render one service's task definition; also return its template source for locating."""
    dep = env.deployments[service]
    if dep.ecs is None or dep.service.ecs is None:
        raise UsageError(f"'{service}' has no ecs target", "render is for ECS services")
    try:
        source = read_source(config.root, dep.service.ecs.task_definition)
    except SourceError as exc:
        raise ConfigError([exc.problem]) from None
    region = env.aws.region if env.aws else ""
    try:
        rendered = taskdef.render(taskdef.RenderInput(
            template=source.data, deployment=dep.ecs, image=image, region=region,
            placeholders=placeholders(env, service), tags=tags or {},
        ))
    except taskdef.UnknownPlaceholderError as exc:
        raise ConfigError([Problem(
            source.path, None, "", f"{exc} has no value in {env.name}",
            f"values known in {env.path}: " + ", ".join(f"${{{k}}}" for k in exc.known),
        )]) from None
    return rendered, source


def check_rendered(config: Config, env: Environment, service: str,
                   image: str = "registry.invalid/image:check") -> list[Problem]:
    """Problems botocore's RegisterTaskDefinition model finds in the rendered definition."""
    rendered, source = render_for(config, env, service, image)
    wrapped = isinstance(source.data, dict) and isinstance(source.data.get("taskDefinition"), dict)
    prefix: tuple[str, ...] = ("taskDefinition",) if wrapped else ()
    problems = []
    for issue in shapes.check("ecs", "RegisterTaskDefinition", rendered):
        where = (*prefix, *issue.path)
        problems.append(Problem(
            source.path, source.line(where), dotted(issue.path),
            f"{issue.message} (rendered for {env.name})", issue.hint,
        ))
    return problems


def default_image(config: Config, env: Environment, service: str) -> str:
    """``<registry>/<repository>:<build key>``, as a deploy from this tree would tag it."""
    svc = config.services[service]
    snap = git.snapshot(config.root)
    ids = git.build_ids(config.root, snap.tree, buildkey.paths_of(svc),
                        [buildkey.context_of(svc)])
    key = buildkey.build_key(buildkey.inputs_for(svc, ids))
    return f"{env.registry.host}/{svc.repository}:{key}"


def run(options: Options) -> Result:
    """Render the task definition of one service in one environment."""
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    ecs_services = [n for n, d in env.deployments.items() if d.ecs]
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
