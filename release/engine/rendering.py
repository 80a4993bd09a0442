"""A service's task definition as a deploy registers it: template + environment values,
checked against the ECS API model (used by deploy, render, validate and iam)."""

from __future__ import annotations

from typing import Any

from release.adapters import git
from release.adapters.aws import shapes
from release.config import Config, Environment
from release.config.source import Source, SourceError, dotted, read_source
from release.errors import ConfigError, Problem, UsageError
from release.planning import buildkey, taskdef


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
                   image: str = "registry.invalid/image:check", *,
                   say_env: bool = True) -> list[Problem]:
    """Problems botocore's RegisterTaskDefinition model finds in the rendered definition
    (``say_env``: each message ends with the environment it was rendered for)."""
    rendered, source = render_for(config, env, service, image)
    wrapped = isinstance(source.data, dict) and isinstance(source.data.get("taskDefinition"), dict)
    prefix: tuple[str, ...] = ("taskDefinition",) if wrapped else ()
    problems = []
    for issue in shapes.check("ecs", "RegisterTaskDefinition", rendered):
        where = (*prefix, *issue.path)
        problems.append(Problem(
            source.path, source.line(where), dotted(issue.path),
            f"{issue.message} (rendered for {env.name})" if say_env else issue.message,
            issue.hint,
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
