"""Checks on a base task definition template, before any rendering."""

from __future__ import annotations

import re
from typing import Any

from release.config.credentials import looks_secret
from release.config.source import Source, dotted
from release.errors import Problem

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
TEMPLATE_PLACEHOLDERS = ("env", "service", "region", "account_id")


def unwrap(data: Any) -> Any:
    """Accept ``describe-task-definition`` output saved as is (``{"taskDefinition": {...}}``)."""
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        return data["taskDefinition"]
    return data


def check_placeholders(source: Source, known: tuple[str, ...]) -> list[Problem]:
    """A problem for each ``${name}`` in ``source`` that is not one of ``known``."""
    problems: list[Problem] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, str):
            for match in PLACEHOLDER.finditer(node):
                if match.group(1) not in known:
                    problems.append(Problem(
                        source.path, source.line(path), dotted(path),
                        f"unknown placeholder '{match.group(0)}'",
                        "known placeholders: " + ", ".join(f"${{{k}}}" for k in known),
                    ))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(source.data, ())
    return problems


def check_task_template(source: Source, container: str | None) -> list[Problem]:
    """Shape, container and plaintext-credential checks of a base task definition."""
    prefix: tuple[str, ...] = ()
    data = source.data
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        prefix = ("taskDefinition",)
        data = data["taskDefinition"]

    def problem(path: tuple[str | int, ...], message: str, hint: str | None = None) -> Problem:
        full = (*prefix, *path)
        return Problem(source.path, source.line(full), dotted(full), message, hint)

    if not isinstance(data, dict):
        return [problem((), "a task definition must be a JSON object",
                        "save the output of `aws ecs describe-task-definition` or write "
                        "the register-task-definition input")]
    containers = data.get("containerDefinitions")
    if not isinstance(containers, list) or not containers:
        return [problem(("containerDefinitions",), "missing or empty 'containerDefinitions'",
                        "a task definition needs at least one container")]
    names = [c.get("name") for c in containers if isinstance(c, dict)]
    problems = []
    if container is None and len(containers) > 1:
        problems.append(problem(
            ("containerDefinitions",),
            f"has {len(containers)} containers ({', '.join(map(str, names))}); "
            "which one gets the image?",
            "set ecs.container in release.yaml to one of them",
        ))
    elif container is not None and container not in names:
        problems.append(problem(
            ("containerDefinitions",), f"no container named '{container}'",
            f"containers in this file: {', '.join(map(str, names))}",
        ))
    for index, item in enumerate(containers):
        if not isinstance(item, dict):
            problems.append(problem(("containerDefinitions", index),
                                    "a container definition must be a JSON object",
                                    'write {"name": ..., "image": ..., ...}'))
            continue
        shape = _shape_problems(item)
        problems.extend(problem(("containerDefinitions", index, *at), message, hint)
                        for at, message, hint in shape)
        if shape:
            continue
        for entry_index, entry in enumerate(item.get("environment") or []):
            if not isinstance(entry, dict):
                continue
            name, value = str(entry.get("name", "")), str(entry.get("value", ""))
            why = looks_secret(name, value)
            if why:
                problems.append(problem(
                    ("containerDefinitions", index, "environment", entry_index),
                    f"plaintext credential: {why}",
                    "remove it from the template and add it under the service's "
                    "ecs.secrets in each environment file, as an SSM or Secrets Manager ARN",
                ))
    return problems


def _shape_problems(container: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Shapes rendering relies on: name/value lists and the log configuration's options."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    for key, value_key in (("environment", "value"), ("secrets", "valueFrom")):
        entries = container.get(key)
        if entries is None:
            continue
        example = f'[{{"name": "LOG_LEVEL", "{value_key}": "..."}}]'
        if not isinstance(entries, list):
            found.append(((key,), f"'{key}' must be a list of name/{value_key} objects",
                          f"write it as {example}"))
            continue
        found.extend(((key, i), f"each '{key}' entry must be a name/{value_key} object "
                      "with a string name", f"write it as {example}")
                     for i, entry in enumerate(entries)
                     if not isinstance(entry, dict) or not isinstance(entry.get("name", ""), str))
    logs = container.get("logConfiguration")
    if logs is not None and (not isinstance(logs, dict)
                             or not isinstance(logs.get("options", {}), dict)):
        found.append((("logConfiguration",), "must be an object whose 'options' is an object",
                      'write {"logDriver": "awslogs", "options": {...}}'))
    return found
