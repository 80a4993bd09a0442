"""How to reach ECS services: their production listener rule (ECS blue/green), a load
balancer's DNS name, or a public task's ENI name.

The predictions-api README did this by hand with three CLI calls after every deploy. Here
the services of one command are looked up together, after their rollouts: load balancers
20 per call; public tasks with one DescribeTasks and one DescribeNetworkInterfaces per
cluster, their task ARNs from one cluster-wide ListTasks when that is cheaper than one
ListTasks per service. A service with neither a load balancer nor a public IP has no name
to report and costs no call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from release.adapters.aws import elb_routes
from release.planning import listener_rules

PAGE = 100  # ListTasks and DescribeTasks take at most 100 tasks per call
NAMES = 20  # target groups / load balancers per describe call
FILTER_VALUES = 200  # values of one EC2 filter


def service_url(client: Callable[[str], Any], cluster: str,
                described: Mapping[str, Any]) -> str | None:
    """``http://`` + the DNS name to reach one service, or None when it has none."""
    return service_urls(client, [(cluster, described)])[0]


def service_urls(client: Callable[[str], Any],
                 spots: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str | None]:
    """For each ``(cluster, DescribeServices entry after the rollout)``: its URL or None.

    ``client(name)`` gives the ``ecs``, ``elbv2`` and ``ec2`` clients. Best effort: the
    rollouts already succeeded, so a failed lookup costs URLs, not the release.
    """
    urls: list[str | None] = [None] * len(spots)
    with suppress(Exception):  # best effort: the load balancer's DNS name is reported then
        _production_routes(client, spots, urls)
    names: list[str | None] = [None] * len(spots)
    balanced = {i: groups[0] for i, (_, svc) in enumerate(spots)
                if urls[i] is None and (groups := [
                    lb["targetGroupArn"] for lb in svc.get("loadBalancers", [])
                    if lb.get("targetGroupArn")])}
    public: dict[str, dict[str, int]] = {}  # cluster -> service name -> index
    for i, (cluster, svc) in enumerate(spots):
        if i not in balanced and urls[i] is None and _public_ip(svc):
            public.setdefault(cluster, {})[str(svc.get("serviceName", ""))] = i
    if balanced:
        with suppress(Exception):  # best effort: the URLs are left out
            _load_balancer_dns(client("elbv2"), balanced, names)
    for cluster, wanted in public.items():
        running = {name: str(spots[i][1].get("taskDefinition", ""))
                   for name, i in wanted.items()}
        with suppress(Exception):
            for name, dns in _public_task_dns(client("ecs"), client("ec2"), cluster,
                                              running).items():
                names[wanted[name]] = dns
    return [url or (f"http://{name}" if name else None) for url, name in zip(urls, names,
                                                                            strict=True)]


def _production_routes(client: Callable[[str], Any],
                       spots: Sequence[tuple[str, Mapping[str, Any]]],
                       urls: list[str | None]) -> None:
    """The URLs of services whose production listener rule ECS blue/green names: the
    listener's scheme and port, and the name its host-header condition wants (all such
    services in one lookup). A rule no GET can match gets its listener's URL."""
    routed = {i: arn for i, (_, svc) in enumerate(spots)
              if (arn := elb_routes.rule_arn(svc, "productionListenerRule"))}
    if not routed:
        return
    found = elb_routes.describe(client("elbv2"), list(routed.values()))
    for i, arn in routed.items():
        rule = found.get(arn)
        if not isinstance(rule, listener_rules.ListenerRule):
            continue
        request = listener_rules.request_for(rule, "/")
        if isinstance(request, listener_rules.Unroutable):  # the listener, whatever it wants
            request = listener_rules.request_for(replace(rule, conditions=()), "/")
        if isinstance(request, listener_rules.SmokeRequest):
            url = request.shown
            urls[i] = url[:-1] if urlsplit(url).path == "/" else url


def _public_ip(svc: Mapping[str, Any]) -> bool:
    """Only a task with a public IP has a public DNS name to report."""
    vpc = svc.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    return bool(vpc.get("assignPublicIp") == "ENABLED")


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def _load_balancer_dns(elbv2: Any, balanced: dict[int, str], names: list[str | None]) -> None:
    balancer_of: dict[str, str] = {}
    for chunk in _chunks(list(balanced.values()), NAMES):
        for group in elbv2.describe_target_groups(TargetGroupArns=chunk)["TargetGroups"]:
            if group.get("LoadBalancerArns"):
                balancer_of[group["TargetGroupArn"]] = group["LoadBalancerArns"][0]
    dns: dict[str, str] = {}
    for chunk in _chunks(list(balancer_of.values()), NAMES):
        for balancer in elbv2.describe_load_balancers(LoadBalancerArns=chunk)["LoadBalancers"]:
            dns[balancer["LoadBalancerArn"]] = balancer["DNSName"]
    for i, group in balanced.items():
        names[i] = dns.get(balancer_of.get(group, ""))


def _public_task_dns(ecs: Any, ec2: Any, cluster: str,
                     running: Mapping[str, str]) -> dict[str, str]:
    """Service -> public DNS name of one of its tasks; ``running``: service -> the task
    definition it runs now (a task of it is preferred)."""
    arns = _cluster_tasks(ecs, cluster, budget=(len(running) - 1) // 2)
    if arns is None:  # a large cluster: one ListTasks per service is cheaper
        arns = [arn for service in running for arn in ecs.list_tasks(
            cluster=cluster, serviceName=service, desiredStatus="RUNNING",
            maxResults=1).get("taskArns", [])[:1]]
    eni_of: dict[str, str] = {}  # service -> the ENI of one of its tasks
    bound: dict[str, str] = {}  # service -> a loopback binding of one of its tasks
    for chunk in _chunks(arns, PAGE):
        for task in ecs.describe_tasks(cluster=cluster, tasks=chunk)["tasks"]:
            service = str(task.get("group", "")).removeprefix("service:")
            current = service in running and task.get("taskDefinitionArn") == running[service]
            eni = next((d["value"] for a in task.get("attachments", [])
                        for d in a.get("details", []) if d.get("name") == "networkInterfaceId"),
                       None)
            if service in running and eni and (service not in eni_of or current):
                eni_of[service] = eni
            local = _loopback_binding(task)
            if service in running and local and (service not in bound or current):
                bound[service] = local
    eni_of = {service: eni for service, eni in eni_of.items() if service not in bound}
    public: dict[str, str] = {}
    for chunk in _chunks(list(eni_of.values()), FILTER_VALUES):
        # A filter, not NetworkInterfaceIds: one ENI gone since must not fail the others.
        found = ec2.describe_network_interfaces(
            Filters=[{"Name": "network-interface-id", "Values": chunk}])
        for interface in found.get("NetworkInterfaces", []):
            association = interface.get("Association", {})
            name = association.get("PublicDnsName") or association.get("PublicIp")
            if name:
                public[interface.get("NetworkInterfaceId", "")] = str(name)
    return {**bound, **{service: public[eni] for service, eni in eni_of.items()
                        if eni in public}}


def _loopback_binding(task: Mapping[str, Any]) -> str | None:
    """``127.0.0.1:PORT`` when a container of the task is bound on loopback (the local
    cloud's service listener: its tasks have no public address); else None. Only a
    loopback address is taken: a URL from the cloud is printed, never followed."""
    for container in task.get("containers", []):
        for binding in container.get("networkBindings", []):
            port = binding.get("hostPort")
            if binding.get("bindIP") == "127.0.0.1" and isinstance(port, int) and (
                    0 < port < 65536):
                return f"127.0.0.1:{port}"
    return None


def _cluster_tasks(ecs: Any, cluster: str, budget: int) -> list[str] | None:
    """Every RUNNING task ARN of the cluster in at most ``budget`` pages, else None."""
    arns: list[str] = []
    token: str | None = None
    for _ in range(budget):
        page = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING", maxResults=PAGE,
                              **({"nextToken": token} if token else {}))
        arns += page.get("taskArns", [])
        token = page.get("nextToken")
        if not token:
            return arns
    return None
