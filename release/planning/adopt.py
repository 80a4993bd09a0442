"""What `release init` writes, from what already runs. Pure: the running ECS services and
Lambda functions in, the config files' contents out.

A running task definition becomes a template kept in the repository, with what differs by
environment taken out of it: family, sizes and roles go to the environment file, and so do
the target container's environment variables and secrets (by ARN). The account id, the
region and the environment's name become ``${account_id}``, ``${region}`` and ``${env}``
wherever they stand in the template's strings. A variable whose name or value looks like a
credential is reported and never copied.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from release.config import credentials
from release.planning import taskdef

IMAGE_PLACEHOLDER = "set-by-release"  # the release puts the image digest here


@dataclass(frozen=True)
class Account:
    """Where the services run, and how the release reaches that account."""

    env: str
    region: str
    account_id: str
    role_arn: str
    endpoint_url: str | None = None  # the local cloud (loopback only)
    registry_host: str | None = None  # None: ECR's host, derived from account and region


@dataclass(frozen=True)
class EcsFound:
    """A running ECS service and the task definition it runs (DescribeTaskDefinition)."""

    cluster: str
    service: str
    task_definition: Mapping[str, Any]
    desired_count: int | None = None


@dataclass(frozen=True)
class LambdaFound:
    """A Lambda function running a container image, and the alias releases move."""

    function: str
    alias: str
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    """One adopted service: its name in release.yaml and what runs it."""

    name: str
    ecs: EcsFound | None = None
    function: LambdaFound | None = None


@dataclass(frozen=True)
class Adopted:
    """The files to write (path -> content) and what the user should know."""

    files: dict[str, str]
    notes: tuple[str, ...]


def service_name(env: str, resource: str) -> str:
    """A service's name from its resource's: ``prod-orders-api`` in prod is ``orders-api``,
    ``Orders_Worker`` is ``orders-worker`` (service names are lowercase, with dashes)."""
    resource = resource.lower().replace("_", "-")
    env = env.lower()
    for affix in (f"{env}-",):
        if resource.startswith(affix) and len(resource) > len(affix):
            return resource[len(affix):]
    for affix in (f"-{env}",):
        if resource.endswith(affix) and len(resource) > len(affix):
            return resource[:-len(affix)]
    return resource


def generalized(node: Any, account: Account) -> Any:
    """``node`` with the account id, region and environment name in its strings written as
    placeholders (whole words only: ``prod`` in ``production`` stays)."""
    words = [(account.account_id, "${account_id}"), (account.region, "${region}"),
             (account.env, "${env}")]
    if isinstance(node, str):
        for word, placeholder in words:
            node = re.sub(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", placeholder,
                          node)
        return node
    if isinstance(node, dict):
        return {key: generalized(value, account) for key, value in node.items()}
    if isinstance(node, list):
        return [generalized(value, account) for value in node]
    return node


def _kept_values(where: str, entries: list[dict[str, Any]],
                 notes: list[str]) -> dict[str, str]:
    """name -> value of plain environment entries; credentials reported, never copied."""
    kept = {}
    for entry in entries:
        name, value = str(entry.get("name", "")), str(entry.get("value", ""))
        why = credentials.find_secret(name, value)
        if why is not None:
            notes.append(f"{where}: {name} {why}; not copied. Store it in SSM Parameter Store "
                         f"or Secrets Manager and name its ARN under secrets: {name}")
            continue
        kept[name] = value
    return kept


def _target_container(containers: list[dict[str, Any]]) -> dict[str, Any]:
    """The container that gets the image: the only one, else the first essential one."""
    essential = [c for c in containers if c.get("essential", True)]
    return (essential or containers)[0]


def ecs_service(service: Service, account: Account,
                notes: list[str]) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The template, the environment file's ``ecs`` block, and the container to name in
    release.yaml (None when the definition has one container)."""
    assert service.ecs is not None  # noqa: S101 - the caller checks
    found = service.ecs
    body = taskdef.strip_read_only(found.task_definition)
    body.pop("tags", None)
    containers: list[dict[str, Any]] = body.get("containerDefinitions") or []
    target = _target_container(containers) if containers else {}
    block: dict[str, Any] = {"cluster": found.cluster, "service": found.service,
                             "family": body.pop("family", None)}
    for key, field_name in (("cpu", "cpu"), ("memory", "memory"),
                            ("executionRoleArn", "execution_role_arn"),
                            ("taskRoleArn", "task_role_arn")):
        if body.get(key) is not None:
            block[field_name] = str(body.pop(key))
    where = f"ECS service {found.cluster}/{found.service}"
    for container in containers:
        shown = f"{where}, container {container.get('name')}"
        values = _kept_values(shown, container.pop("environment", None) or [], notes)
        secrets = {str(s.get("name")): str(s.get("valueFrom"))
                   for s in container.pop("secrets", None) or []}
        if container is target:
            block["environment"], block["secrets"] = values, secrets
            container["image"] = f"{service.name}:{IMAGE_PLACEHOLDER}"
        else:  # another container keeps its own values in the template
            if values:
                container["environment"] = [{"name": k, "value": v} for k, v in values.items()]
            if secrets:
                container["secrets"] = [{"name": k, "valueFrom": v} for k, v in secrets.items()]
    if found.desired_count is not None:
        block["desired_count"] = found.desired_count
    block = {k: v for k, v in block.items() if v not in (None, {}, "")}
    name = str(target.get("name")) if len(containers) > 1 else None
    return generalized(body, account), block, name


def lambda_block(service: Service, notes: list[str]) -> dict[str, Any]:
    """The environment file's ``lambda`` block."""
    assert service.function is not None  # noqa: S101
    found = service.function
    entries = [{"name": k, "value": v} for k, v in found.environment.items()]
    values = _kept_values(f"Lambda function {found.function}", entries, notes)
    block: dict[str, Any] = {"function": found.function, "alias": found.alias}
    if values:
        block["environment"] = values
    return block


def as_json(data: Any) -> str:
    """A template file's text: indented JSON, as teams keep task definitions."""
    return json.dumps(data, indent=2) + "\n"


def copy_of(data: Any) -> Any:
    """A deep copy (the planner never shares structures with its inputs)."""
    return copy.deepcopy(data)


@dataclass(frozen=True)
class Layout:
    """Where things go in the repository, and which tool version the workflow calls."""

    contexts: Mapping[str, str]  # service -> its build context (holding its Dockerfile)
    templates_dir: str = "deploy"
    tool_repository: str = "OWNER/REPO"
    tool_ref: str | None = None  # the tool's commit (40 hex), for the workflow's `uses:`
    tool_version: str = ""


LOCAL = Account("local", "eu-west-1", "123456789012",
                "arn:aws:iam::123456789012:role/release-local", "http://127.0.0.1:5000",
                "127.0.0.1:5001")


def _header(what: str, schema: str) -> str:
    return (f"# yaml-language-server: $schema={schema}\n"
            f"# {what}, written by `release init`. Edit it freely: `release validate` checks it.\n")


def _aws_block(account: Account) -> dict[str, Any]:
    block = {"region": account.region, "account_id": account.account_id,
             "role_arn": account.role_arn}
    if account.endpoint_url:
        block["endpoint_url"] = account.endpoint_url
    return block


def _registry(account: Account) -> dict[str, str]:
    return {"type": "ecr", **({"host": account.registry_host} if account.registry_host else {})}


def release_file(services: list[Service], layout: Layout,
                 containers: Mapping[str, str | None]) -> dict[str, Any]:
    """release.yaml: per service its build context and its targets."""
    out: dict[str, Any] = {}
    for service in services:
        entry: dict[str, Any] = {"context": layout.contexts[service.name]}
        if service.ecs is not None:
            entry["ecs"] = {"task_definition": f"{layout.templates_dir}/{service.name}"
                                               ".task.json"}
            if containers.get(service.name):
                entry["ecs"]["container"] = containers[service.name]
        if service.function is not None:
            entry["lambda"] = {}
        out[service.name] = entry
    return {"version": 1, "services": out}


def environment_file(account: Account, blocks: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """environments/<env>.yaml: the account, the registry and each service's values."""
    return {"name": account.env, "aws": _aws_block(account), "registry": _registry(account),
            "services": dict(blocks)}


def local_file(services: list[Service], blocks: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """environments/local.yaml for the embedded local cloud: default names (local-<service>),
    the same plain variables, no secrets (their ARNs name the real account)."""
    out: dict[str, Any] = {}
    for service in services:
        entry: dict[str, Any] = {}
        ecs = blocks[service.name].get("ecs")
        if ecs is not None:
            entry["ecs"] = {"cluster": "local", "desired_count": 1, "deadline_seconds": 120,
                            **({"environment": ecs["environment"]}
                               if ecs.get("environment") else {})}
        function = blocks[service.name].get("lambda")
        if function is not None:
            entry["lambda"] = {k: v for k, v in function.items() if k == "environment"}
        out[service.name] = entry
    return {"name": "local", "aws": _aws_block(LOCAL), "registry": _registry(LOCAL),
            "services": out}


def workflow(account: Account, layout: Layout) -> str:
    """.github/workflows/release.yml: on push to main and by hand, the tool's reusable
    workflow pinned by commit SHA (the version in a comment, for Dependabot/Renovate)."""
    ref = layout.tool_ref or "<40-hex commit of the release tool>"
    version = f"  # {layout.tool_version}" if layout.tool_version else ""
    return f"""# Written by `release init`: releases what differs from what runs.
name: release
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      environment: {{type: choice, options: [{account.env}], default: {account.env}}}
permissions:
  contents: read
jobs:
  release:
    uses: {layout.tool_repository}/.github/workflows/deploy.yml@{ref}{version}
    permissions:
      contents: read
      id-token: write  # OIDC: short-lived cloud credentials, no keys in secrets
    with:
      environment: ${{{{ inputs.environment || '{account.env}' }}}}
      release-repository: {layout.tool_repository}
      release-ref: {ref}
"""


def _yaml(data: Any) -> str:
    import yaml  # deferred: only `release init` writes YAML

    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    return text


def adopted(services: list[Service], account: Account, layout: Layout) -> Adopted:
    """Every file `release init` writes, and the notes to print."""
    notes: list[str] = []
    files: dict[str, str] = {}
    blocks: dict[str, dict[str, Any]] = {}
    containers: dict[str, str | None] = {}
    for service in services:
        blocks[service.name] = {}
        if service.ecs is not None:
            template, block, containers[service.name] = ecs_service(service, account, notes)
            files[f"{layout.templates_dir}/{service.name}.task.json"] = as_json(template)
            blocks[service.name]["ecs"] = block
        if service.function is not None:
            blocks[service.name]["lambda"] = lambda_block(service, notes)
    files["release.yaml"] = (_header("The services: how each image is built and where it runs",
                                     "schemas/release.schema.json")
                             + _yaml(release_file(services, layout, containers)))
    env_path = f"environments/{account.env}.yaml"
    files[env_path] = (_header(f"The {account.env} environment",
                               "../schemas/environment.schema.json")
                       + _yaml(environment_file(account, blocks)))
    if account.env != "local":
        files["environments/local.yaml"] = (
            _header("The embedded local cloud (`release local up` starts it and creates these "
                    "services)", "../schemas/environment.schema.json")
            + _yaml(local_file(services, blocks)))
    files[".github/workflows/release.yml"] = workflow(account, layout)
    return Adopted(files, tuple(notes))
