"""How to reach an ECS service: its load balancer's DNS name, or a public task's ENI name.

The predictions-api README did this by hand with three CLI calls after every deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def service_url(client: Callable[[str], Any], cluster: str,
                described: dict[str, Any]) -> str | None:
    """``http://`` + the DNS name to reach the service, or None when it has none.

    ``client(name)`` gives the ``ecs``, ``elbv2`` and ``ec2`` clients. Best effort: the
    rollout already succeeded, so a failure here costs the URL, not the release.
    """
    try:
        name = (_load_balancer_dns(client("elbv2"), described.get("loadBalancers", []))
                or _public_task_dns(client("ecs"), client("ec2"), cluster,
                                    str(described.get("serviceName", ""))))
    except Exception:  # noqa: BLE001
        return None
    return f"http://{name}" if name else None


def _load_balancer_dns(elbv2: Any, load_balancers: list[dict[str, Any]]) -> str | None:
    groups = [lb["targetGroupArn"] for lb in load_balancers if lb.get("targetGroupArn")]
    if not groups:
        return None
    found = elbv2.describe_target_groups(TargetGroupArns=groups[:1])["TargetGroups"]
    arns = [arn for group in found for arn in group.get("LoadBalancerArns", [])]
    if not arns:
        return None
    balancers = elbv2.describe_load_balancers(LoadBalancerArns=arns[:1])["LoadBalancers"]
    return str(balancers[0]["DNSName"]) if balancers else None


def _public_task_dns(ecs: Any, ec2: Any, cluster: str, service: str) -> str | None:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING",
                          maxResults=1).get("taskArns", [])
    if not arns:
        return None
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    enis = [d["value"] for task in tasks for attachment in task.get("attachments", [])
            for d in attachment.get("details", []) if d.get("name") == "networkInterfaceId"]
    if not enis:
        return None
    interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=enis[:1])
    for interface in interfaces.get("NetworkInterfaces", []):
        association = interface.get("Association", {})
        name = association.get("PublicDnsName") or association.get("PublicIp")
        if name:
            return str(name)
    return None
