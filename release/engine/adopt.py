"""Read what already runs, for `release init`: ECS services (with the task definition each
runs) and Lambda functions that run container images."""

from __future__ import annotations

from typing import Any

from release.adapters.aws import ecs
from release.adapters.aws.clients import AwsClients, explain
from release.config.model import DEFAULT_ALIAS
from release.errors import ReleaseError, UsageError
from release.planning.adopt import EcsFound, LambdaFound


def account_id(clients: AwsClients) -> str:
    """The account the credentials belong to (STS GetCallerIdentity)."""
    try:
        found: str = clients.client("sts").get_caller_identity()["Account"]
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise explain(exc, "find the account (sts get-caller-identity)") from None
    return found


def ecs_service(clients: AwsClients, spec: str) -> EcsFound:
    """``CLUSTER/SERVICE`` as it runs: the service and its task definition."""
    cluster, _, service = spec.partition("/")
    if not cluster or not service or "/" in service:
        raise UsageError(f"--ecs {spec!a}: not CLUSTER/SERVICE", "e.g. --ecs prod/orders-api")
    client = clients.client("ecs")
    found = ecs.describe_services(client, cluster, [service]).get(service)
    if found is None:
        raise ecs.missing(cluster, service)
    try:
        described = client.describe_task_definition(taskDefinition=found["taskDefinition"])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"describe the task definition of {cluster}/{service}") from None
    count = found.get("desiredCount")
    return EcsFound(cluster, service, described["taskDefinition"],
                    count if isinstance(count, int) else None)


def lambda_function(clients: AwsClients, name: str) -> LambdaFound:
    """A function that runs a container image, and the alias a release will move (``live``
    when it has one or none, else its only alias)."""
    client = clients.client("lambda")
    try:
        config: dict[str, Any] = client.get_function_configuration(FunctionName=name)
        aliases = [a["Name"] for page in client.get_paginator("list_aliases").paginate(
            FunctionName=name) for a in page.get("Aliases", [])]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"read Lambda function {name}") from None
    if config.get("PackageType") != "Image":
        raise ReleaseError(f"Lambda function {name} runs a .zip package, not a container image",
                           "release deploys container images; adopt the functions that run "
                           "one (PackageType Image)")
    alias = DEFAULT_ALIAS if DEFAULT_ALIAS in aliases or len(aliases) != 1 else aliases[0]
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return LambdaFound(name, alias, {str(k): str(v) for k, v in variables.items()})
