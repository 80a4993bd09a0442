"""Where an ECS service's smoke check is sent.

In order: ``smoke.url`` when given (an NLB, API Gateway or CloudFront in front: routes the
release cannot look up); else the listener rule ECS blue/green routes through (the test
rule for the new revision during a blue/green, canary or linear deployment; the production
rule after a rolling update) turned into a GET; else the local cloud's loopback binding
(the new revision's tasks during a deployment) or the service URL (after a rolling
update). When none is found, why, and what to give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from release.adapters.aws import ecs_address, elb_routes
from release.adapters.aws.common import explain
from release.adapters.aws.ecs import describe_services
from release.config.model import SmokeCheck
from release.errors import ReleaseError
from release.planning.listener_rules import (
    ListenerRule,
    SmokeRequest,
    Unroutable,
    explicit,
    request_for,
)

Clients = Callable[[str], Any]
NO_ROUTE = ("give the service's load balancer a test listener rule (ECS blue/green: "
            "loadBalancers[].advancedConfiguration.testListenerRule), or give smoke.url")


def _routed(client: Clients, arn: str, path: str) -> SmokeRequest | Unroutable:
    try:
        found = elb_routes.describe(client("elbv2"), [arn])[arn]
    except Exception as exc:  # noqa: BLE001 - a lookup that fails fails the check, said why
        error = explain(exc, f"look up listener rule {arn}")
        return Unroutable(error.message, error.hint or elb_routes.PERMISSIONS)
    return request_for(found, path) if isinstance(found, ListenerRule) else found


def test_request(client: Clients, cluster: str, service: str, task_definition: str,
                 check: SmokeCheck) -> SmokeRequest | Unroutable:
    """The GET that reaches the new revision (``task_definition``) through the service's
    test route while its deployment is under way."""
    if check.url:
        return explicit(check.url, check.host_header, check.path)
    ecs = client("ecs")
    try:
        found = describe_services(ecs, cluster, [service]).get(service, {})
    except ReleaseError as failed:
        return Unroutable(failed.message, failed.hint or NO_ROUTE)
    arn = elb_routes.rule_arn(found, "testListenerRule")
    if arn:
        return _routed(client, arn, check.path)
    try:
        bound = _loopback(ecs, cluster, service, task_definition)
    except Exception as exc:  # noqa: BLE001
        error = explain(exc, f"find the test URL of {cluster}/{service}")
        return Unroutable(error.message, error.hint or NO_ROUTE)
    if bound:
        return SmokeRequest(bound + check.path, check.host_header)
    return Unroutable(f"no test URL found for {cluster}/{service}: it names no test listener "
                      "rule and no task of the new revision is bound on loopback", NO_ROUTE)


def service_request(client: Clients, cluster: str, described: Mapping[str, Any],
                    check: SmokeCheck) -> SmokeRequest | Unroutable:
    """The GET that reaches the service as its users do, after a rolling update."""
    if check.url:
        return explicit(check.url, check.host_header, check.path)
    arn = elb_routes.rule_arn(described, "productionListenerRule")
    if arn:
        return _routed(client, arn, check.path)
    url = ecs_address.service_url(client, cluster, described)
    if url:
        return SmokeRequest(url.rstrip("/") + check.path, check.host_header)
    name = described.get("serviceName", "the service")
    return Unroutable(f"no URL found for {cluster}/{name}: it has no load balancer, "
                      "public IP or local binding",
                      "give smoke.url, or put the service behind a load balancer")


def _loopback(ecs: Any, cluster: str, service: str, task_definition: str) -> str | None:
    """``http://127.0.0.1:PORT`` of a task of ``task_definition`` bound on loopback: the
    local cloud binds a new revision's tasks to the service's test port there during a
    deployment (tasks on AWS have no loopback bindings)."""
    arns = ecs.list_tasks(cluster=cluster, serviceName=service,
                          desiredStatus="RUNNING").get("taskArns", [])
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100])["tasks"] if arns else []
    for task in tasks:
        if task.get("taskDefinitionArn") != task_definition:
            continue
        for container in task.get("containers", []):
            for binding in container.get("networkBindings", []):
                port = binding.get("hostPort")
                if binding.get("bindIP") == "127.0.0.1" and isinstance(port, int) and (
                        0 < port < 65536):
                    return f"http://127.0.0.1:{port}"
    return None
