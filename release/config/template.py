"""Checks on a base task definition template, before any rendering."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from release.config.credentials import find_in_args, find_secret, secrets_hint, variable_for
from release.config.source import PathKey, Source, dotted
from release.errors import Problem

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
TEMPLATE_PLACEHOLDERS = ("env", "service", "region", "account_id")
BUILT_INS = (*TEMPLATE_PLACEHOLDERS, "function_arn")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a name an environment's vars: may define


# Terraform's state (`terraform show -json`) and its aws_ecs_task_definition arguments
_TERRAFORM_KEYS = ("container_definitions", "format_version", "values", "resource")
_TERRAFORM_HINT = (
    "this looks like Terraform's aws_ecs_task_definition, not a task definition: write the "
    "register-task-definition JSON (camelCase fields, 'containerDefinitions' as a list), "
    "e.g. `aws ecs describe-task-definition --task-definition <family>` saved as is, or "
    "Terraform's `jsonencode({family = ..., containerDefinitions = [...]})` written to a file")


def unwrap(data: Any) -> Any:
    """Accept ``describe-task-definition`` output saved as is (``{"taskDefinition": {...}}``)."""
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        return data["taskDefinition"]
    return data


def drop_nulls(data: Any) -> tuple[Any, list[str]]:
    """``data`` without the fields whose value is null, and the dotted paths dropped.

    The console's JSON tab and ``describe-task-definition`` write ``"ulimits": null``; the AWS
    deploy action (``cleanNullKeys``) drops such fields before registering, and so do we. A
    mapping or list left empty only because its fields were null is dropped with them; one
    written empty (``[]``, ``{}``) and empty text are kept, as written. A null inside a
    list is kept: removing it would move the items after it (the API model reports it).
    """
    def clean(node: Any, path: PathKey) -> tuple[Any, bool, list[str]]:
        """(cleaned node, whether it held only nulls, the paths dropped inside it)."""
        dropped: list[str] = []
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                kept, only_nulls, inner = (None, True, []) if value is None \
                    else clean(value, (*path, key))
                if only_nulls:  # named once, by the field itself
                    dropped.append(dotted((*path, key)))
                    continue
                out[key] = kept
                dropped.extend(inner)
            return out, bool(node) and not out, dropped
        if isinstance(node, list):
            items = [clean(value, (*path, index)) for index, value in enumerate(node)]
            if node and all(only for _, only, _ in items):
                return [], True, []
            return [kept for kept, _, _ in items], False, [d for *_, ds in items for d in ds]
        return node, False, []

    if not isinstance(data, dict):
        return data, []
    cleaned, _, names = clean(data, ())
    return cleaned, names


def null_notice(path: str, dropped: list[str]) -> str:
    """One line naming the null fields dropped from a template."""
    shown = ", ".join(dropped[:20]) + (f" and {len(dropped) - 20} more" if len(dropped) > 20
                                       else "")
    return f"NOTICE {path}: null fields dropped (as the AWS deploy action does): {shown}"


def is_var(name: str) -> bool:
    """Whether ``${name}`` is one an environment's ``vars:`` may define."""
    return VAR_NAME.fullmatch(name) is not None and name not in BUILT_INS


def var_uses(data: Any) -> dict[str, PathKey]:
    """The vars ``data`` uses as ``${name}``, each with the path of its first use."""
    found: dict[str, PathKey] = {}
    stack: list[tuple[Any, PathKey]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            for match in PLACEHOLDER.finditer(node):
                if is_var(match.group(1)):
                    found.setdefault(match.group(1), path)
        elif isinstance(node, dict):
            stack.extend(((v, (*path, k)) for k, v in reversed(node.items())))
        elif isinstance(node, list):
            stack.extend(((v, (*path, i)) for i, v in reversed(list(enumerate(node)))))
    return found


def check_placeholders(source: Source, known: tuple[str, ...], *,
                       variables: bool = False) -> list[Problem]:
    """A problem for each ``${name}`` in ``source`` that is not one of ``known`` (nor, with
    ``variables``, a name an environment's ``vars:`` may define: checked per environment)."""
    problems: list[Problem] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, str):
            for match in PLACEHOLDER.finditer(node):
                name = match.group(1)
                if name not in known and not (variables and is_var(name)):
                    problems.append(Problem(
                        source.path, source.line(path), dotted(path),
                        f"unknown placeholder '{match.group(0)}'",
                        "known placeholders: " + ", ".join(f"${{{k}}}" for k in known)
                        + ("; other names (letters, digits, _) come from each environment "
                           "file's vars:" if variables else ""),
                    ))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(source.data, ())
    return problems


def check_task_template(source: Source, container: str | None,
                        allowed: Mapping[str, str] | None = None) -> list[Problem]:
    """Shape, container and plaintext-credential checks of a base task definition.

    ``allowed``: fields (as the problems name them) kept in plaintext, each with the reason
    a reviewer accepted; None where the configuration has no such list.
    """
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
        terraform = any(key in data for key in _TERRAFORM_KEYS)
        return [problem(("containerDefinitions",), "missing or empty 'containerDefinitions'",
                        _TERRAFORM_HINT if terraform else
                        "a task definition needs at least one container")]
    problems = _which_container(problem, containers, container)
    for index, item in enumerate(containers):
        problems += _container_problems(problem, prefix, index, item, allowed)
    return problems


_Make = Callable[[PathKey, str, str | None], Problem]


def _which_container(problem: _Make, containers: list[Any], container: str | None,
                     ) -> list[Problem]:
    """The container that gets the image: named when there are several, and present."""
    names = [c.get("name") for c in containers if isinstance(c, dict)]
    if container is None and len(containers) > 1:
        return [problem(
            ("containerDefinitions",),
            f"has {len(containers)} containers ({', '.join(map(str, names))}); "
            "which one gets the image?",
            "set ecs.container in release.yaml to one of them",
        )]
    if container is not None and container not in names:
        return [problem(
            ("containerDefinitions",), f"no container named '{container}'",
            f"containers in this file: {', '.join(map(str, names))}",
        )]
    return []


def _container_problems(problem: _Make, prefix: PathKey, index: int, item: Any,
                        allowed: Mapping[str, str] | None) -> list[Problem]:
    """Shape problems of one container definition, else its plaintext credentials."""
    if not isinstance(item, dict):
        return [problem(("containerDefinitions", index),
                        "a container definition must be a JSON object",
                        'write {"name": ..., "image": ..., ...}')]
    shape = _shape_problems(item)
    if shape:
        return [problem(("containerDefinitions", index, *at), message, hint)
                for at, message, hint in shape]
    problems = []
    for at, why, hint in container_credentials(item):
        full = ("containerDefinitions", index, *at)
        if allowed is not None and dotted((*prefix, *full)) in allowed:
            continue
        more = ("\nonly if it is not a credential: list the field under the service's "
                "ecs.allow_plaintext in release.yaml, with the reason") if allowed is not None \
            else ""
        problems.append(problem(full, f"plaintext credential: {why}", hint + more))
    return problems


def container_credentials(container: dict[str, Any]) -> list[tuple[PathKey, str, str]]:
    """(path in the container, why, hint) for each plaintext credential in a container
    definition: its environment, command, entry point, health check, labels and log options."""
    found: list[tuple[PathKey, str, str]] = []
    for entry_index, entry in enumerate(container.get("environment") or []):
        if isinstance(entry, dict):
            name, value = str(entry.get("name", "")), _text(entry.get("value"))
            why = find_secret(name, value)
            if why:
                found.append((("environment", entry_index), why, _environment_hint(name)))
    health = container.get("healthCheck")
    for at, args in ((("command",), container.get("command")),
                     (("entryPoint",), container.get("entryPoint")),
                     (("healthCheck", "command"),
                      health.get("command") if isinstance(health, dict) else None)):
        found.extend(_argument_credentials(at, args))
    logs = container.get("logConfiguration")
    for at, named, hint in ((("dockerLabels",), container.get("dockerLabels"), _label_hint),
                            (("logConfiguration", "options"),
                             logs.get("options") if isinstance(logs, dict) else None, _log_hint)):
        if isinstance(named, dict):
            for key, value in named.items():
                why = find_secret(str(key), _text(value))
                if why:
                    found.append(((*at, key), why, hint(str(key))))
    return found


def _argument_credentials(at: PathKey, args: Any) -> list[tuple[PathKey, str, str]]:
    if isinstance(args, str):
        args = [args]
    if not isinstance(args, list):
        return []
    found: list[tuple[PathKey, str, str]] = []
    for index, why in find_in_args(args):
        before = args[index - 1] if index else None
        name = variable_for(before) if isinstance(before, str) and before.startswith("-") \
            else "SECRET_VALUE"
        found.append(((*at, index), why, _argument_hint(name)))
    return found


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _secrets_form(name: str) -> str:
    return secrets_hint("<service>", name, "<region>", "<account_id>", "<env>").split(":\n", 1)[1]


def _environment_hint(name: str) -> str:
    return ("remove it from the template and add it under the service's ecs.secrets in each "
            "environment file, as an SSM or Secrets Manager ARN:\n" + _secrets_form(name)
            + "\nonly if it is not a credential: set it in the environment files' "
            "ecs.environment instead, with `# release: allow-plaintext (reason)` on its line")


def _argument_hint(name: str) -> str:
    return ("a command line is part of the task definition, readable by anyone who can "
            "describe it: give the value to the container through ecs.secrets and use it as "
            f"${name} (in `sh -c '...'`) or read it in the program:\n" + _secrets_form(name))


def _label_hint(name: str) -> str:
    return ("labels are readable by anyone who can describe the task or its container: remove "
            "it, and give the container the value through ecs.secrets:\n"
            + _secrets_form(variable_for(name)))


def _log_hint(name: str) -> str:
    return ("move it to logConfiguration.secretOptions, which ECS fills from SSM or Secrets "
            f'Manager: "secretOptions": [{{"name": "{name}", "valueFrom": '
            '"arn:aws:ssm:<region>:<account_id>:parameter/<env>/<service>/..."}]')


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
