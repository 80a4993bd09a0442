"""Render the task definition to register: base template + environment values. Pure."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from release.config.model import EcsDeployment
from release.config.template import PLACEHOLDER, drop_nulls
from release.planning.recorded import VOLATILE_TAGS

# Fields of describe-task-definition output that RegisterTaskDefinition does not take.
READ_ONLY_FIELDS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
)


class UnknownPlaceholderError(ValueError):
    """A ``${name}`` that no value exists for."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown placeholder '${{{name}}}'")
        self.name = name
        self.known = known


@dataclass(frozen=True)
class RenderInput:
    """Everything a task definition is made from."""

    template: Mapping[str, Any]
    deployment: EcsDeployment
    image: str
    region: str
    placeholders: Mapping[str, str]
    tags: Mapping[str, str] = field(default_factory=dict)


def substitute(node: Any, values: Mapping[str, str]) -> Any:
    """``node`` with every ``${name}`` in its strings replaced; unknown names raise."""
    if isinstance(node, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise UnknownPlaceholderError(name, sorted(values))
            return values[name]
        return PLACEHOLDER.sub(replace, node)
    if isinstance(node, dict):
        return {key: substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(value, values) for value in node]
    return node


def strip_read_only(task_definition: Mapping[str, Any]) -> dict[str, Any]:
    """The register-task-definition input part of a described or templated definition."""
    body = task_definition
    if isinstance(task_definition.get("taskDefinition"), dict):
        body = task_definition["taskDefinition"]
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY_FIELDS}


def target_container(containers: list[dict[str, Any]], name: str | None) -> dict[str, Any]:
    """The container that gets the image: the named one, or the only one."""
    if name is None:
        if len(containers) != 1:
            raise ValueError("several containers and none named")
        return containers[0]
    for container in containers:
        if container.get("name") == name:
            return container
    raise ValueError(f"no container named {name!r}")


def _merge_named(entries: list[dict[str, Any]], updates: Mapping[str, str],
                 value_key: str) -> list[dict[str, Any]]:
    merged = {str(e.get("name")): dict(e) for e in entries}
    for name, value in updates.items():
        merged[name] = {"name": name, value_key: value}
    return list(merged.values())


def render(data: RenderInput) -> dict[str, Any]:
    """The RegisterTaskDefinition input for one service in one environment."""
    # null fields (console and describe-task-definition exports) are dropped, as the
    # AWS deploy action does; validation names them
    template, _ = drop_nulls(data.template)
    # describe-task-definition output keeps tags beside taskDefinition; a plain template
    # keeps them in the body. Both are kept, and the release's own tags win.
    wrapped = isinstance(template.get("taskDefinition"), dict)
    body: dict[str, Any] = substitute(strip_read_only(template), data.placeholders)
    wrapper_tags = substitute(template.get("tags"), data.placeholders) if wrapped else None
    # Anything but a list is left for the API model check to report.
    tags = [tag for group in (wrapper_tags, body.get("tags")) if isinstance(group, list)
            for tag in group]
    dep = data.deployment
    body["family"] = dep.family
    if dep.cpu is not None:
        body["cpu"] = dep.cpu
    if dep.memory is not None:
        body["memory"] = dep.memory
    if dep.execution_role_arn is not None:
        body["executionRoleArn"] = dep.execution_role_arn
    if dep.task_role_arn is not None:
        body["taskRoleArn"] = dep.task_role_arn
    container = target_container(body["containerDefinitions"], dep.container)
    container["image"] = data.image
    # A name moved to secrets must leave environment: ECS refuses a name in both.
    environment = [e for e in container.get("environment") or []
                   if e.get("name") not in dep.secrets]
    environment = _merge_named(environment, dep.environment, "value")
    if environment:
        container["environment"] = sorted(environment, key=lambda e: str(e.get("name")))
    secrets = _merge_named(container.get("secrets") or [], dep.secrets, "valueFrom")
    if secrets:
        container["secrets"] = sorted(secrets, key=lambda e: str(e.get("name")))
    _apply_logs(container, dep, data.region)
    merged_tags = {str(t["key"]): str(t.get("value", "")) for t in tags
                   if isinstance(t, dict) and "key" in t}
    merged_tags.update(data.tags)
    if merged_tags:
        body["tags"] = [{"key": k, "value": v} for k, v in sorted(merged_tags.items())]
    return body


def _apply_logs(container: dict[str, Any], dep: EcsDeployment, region: str) -> None:
    logs = container.get("logConfiguration")
    uses_awslogs = isinstance(logs, dict) and logs.get("logDriver") == "awslogs"
    if dep.log_group is None and not uses_awslogs:
        return
    options = dict(logs.get("options", {})) if uses_awslogs and isinstance(logs, dict) else {}
    options["awslogs-group"] = dep.log_group or options.get("awslogs-group") or (
        f"/ecs/{dep.family}")
    options["awslogs-region"] = region
    options.setdefault("awslogs-stream-prefix", "ecs")
    container["logConfiguration"] = {**(logs if uses_awslogs and isinstance(logs, dict) else {}),
                                     "logDriver": "awslogs", "options": options}


# Values ECS fills in on describe that mean the same as leaving them out.
_CONTAINER_DEFAULTS = {"cpu": 0, "essential": True}


def _prune(node: Any) -> Any:
    if isinstance(node, dict):
        pruned = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v not in ([], {}, None)}
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


def comparable(task_definition: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """A task definition reduced to what matters when deciding to register a new revision."""
    body: dict[str, Any] = _prune(strip_read_only(task_definition))
    body.pop("tags", None)
    for container in body.get("containerDefinitions", []):
        for key, default in _CONTAINER_DEFAULTS.items():
            if container.get(key) == default:
                container.pop(key)
        for key in ("environment", "secrets"):
            if key in container:
                container[key] = sorted(container[key], key=lambda e: str(e.get("name")))
    body["tags"] = {k: v for k, v in sorted(tags.items()) if k not in VOLATILE_TAGS}
    return body


def tags_of(task_definition: Mapping[str, Any]) -> dict[str, str]:
    """The ``tags`` list of a RegisterTaskDefinition input, as a mapping."""
    return {str(t["key"]): str(t["value"]) for t in task_definition.get("tags", [])}
