"""Warnings about task definition templates that validate but would surprise on the day:
a default family that replaces the template's own, and ARNs naming an account other than
the environment's. Each is said once per template, with every environment it affects."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from release.config import Config, Environment
from release.config.source import SourceError, read_source
from release.errors import Problem

ACCOUNT_IN_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}):")


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def _body(data: Any) -> dict[str, Any]:
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        inner: dict[str, Any] = data["taskDefinition"]
        return inner
    return data if isinstance(data, dict) else {}


def notes(config: Config) -> list[str]:
    """Every warning for the environments loaded, grouped per template and finding."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)  # (template, text) -> envs
    for env in config.environments.values():
        for name, dep in env.deployments.items():
            if dep.ecs is None or dep.service.ecs is None:
                continue
            path = dep.service.ecs.task_definition
            try:
                body = _body(read_source(config.root, path).data)
            except SourceError:
                continue  # reported as a problem already
            for text in _family(body, env, name) + _accounts(body, env):
                found[(path, text)].append(env.name)
    return [f"warning: {path}: {text} (in {', '.join(envs)})"
            for (path, text), envs in found.items()]


def _family(body: dict[str, Any], env: Environment, name: str) -> list[str]:
    dep = env.deployments[name].ecs
    own = body.get("family")
    if dep is None or not isinstance(own, str) or "${" in own or own == dep.family:
        return []
    if dep.family != f"{env.name}-{name}":
        return []  # chosen in the environment file on purpose
    return [f"the template's family {own!a} is replaced by the default {env.name}-{name}, a "
            f"new family beside the running one; set services.{name}.ecs.family in "
            f"{env.path} to keep deploying {own!a}"]


def _accounts(body: dict[str, Any], env: Environment) -> list[str]:
    if env.aws is None:
        return []
    allowed = {env.aws.account_id, *env.aws.role_accounts}
    out = []
    for field, text in _strings(body):
        for match in ACCOUNT_IN_ARN.finditer(text):
            if match.group(1) not in allowed:
                out.append(f"{field} names account {match.group(1)}, not the environment's "
                           f"{env.aws.account_id}: write ${{account_id}} there (or list the "
                           "account under aws.role_accounts when it is meant)")
    return out


def merged(problems: list[tuple[Problem, str]]) -> list[Problem]:
    """Problems found in several environments' renderings of one template, once each, with
    the environments named together."""
    envs: dict[tuple[str, int | None, str, str, str | None], list[str]] = defaultdict(list)
    for problem, env in problems:
        envs[(problem.file, problem.line, problem.field, problem.message,
              problem.hint)].append(env)
    return [Problem(path, line, field, f"{message} (rendered for {', '.join(names)})", hint)
            for (path, line, field, message, hint), names in envs.items()]
