"""Scripted stand-ins for ECS, Lambda, ELB, EC2 and a Docker engine, with state to inspect.

moto cannot show a rollout failing, a circuit-breaker rollback, a deployment replaced by
another release, a Lambda update ending ``Failed`` or a ResourceConflictException. These
fakes keep just enough state (task definitions, services, deployments, function versions,
aliases) to assert what runs after a fault, and take a script saying how the next rollout
or update behaves. Faults raise real ``botocore.exceptions.ClientError`` objects.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

REGION_ACCOUNT = "eu-west-1:123456789012"


def client_error(code: str, operation: str, message: str = "scripted", status: int = 400
                 ) -> ClientError:
    """The exception botocore raises for an AWS error answer."""
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """Counts calls per operation and raises queued faults before answering."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # per operation, what its next calls do: an exception to raise, or None to answer
        self.faults: dict[str, list[Exception | None]] = defaultdict(list)

    def _call(self, operation: str, **kwargs: Any) -> None:
        self.calls.append((operation, kwargs))
        queued = self.faults.get(operation)
        if queued:
            fault = queued.pop(0)
            if fault is not None:
                raise fault

    def count(self, operation: str) -> int:
        """How many times ``operation`` was called."""
        return sum(1 for name, _ in self.calls if name == operation)


@dataclass
class Behaviour:
    """How the next rollout of a service goes, one entry per DescribeServices poll."""

    # states the deployment shows on successive polls; the last one repeats
    states: list[str] = field(default_factory=lambda: ["COMPLETED"])
    # after the polls above: "" | "circuit_breaker" | "superseded"
    then: str = ""


class FakeEcs(Scripted):
    """ECS services with deployments that move as scripted."""

    def __init__(self, *, circuit_breaker: bool = False) -> None:
        super().__init__()
        self.definitions: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.behaviour: dict[str, list[Behaviour]] = defaultdict(list)
        self.circuit_breaker = circuit_breaker
        self._ids = itertools.count(1)
        self._polls: dict[str, int] = defaultdict(int)

    # set-up helpers -------------------------------------------------------------------
    def add_service(self, cluster: str, name: str, body: dict[str, Any],
                    tags: dict[str, str] | None = None) -> str:
        """A service already running ``body`` (registered as the family's next revision)."""
        arn = self.register_task_definition(
            **body, tags=[{"key": k, "value": v} for k, v in (tags or {}).items()])[
            "taskDefinition"]["taskDefinitionArn"]
        self.calls.clear()
        breaker = {"enable": self.circuit_breaker, "rollback": self.circuit_breaker}
        self.services[(cluster, name)] = {
            "serviceName": name, "status": "ACTIVE", "taskDefinition": arn,
            "desiredCount": 1, "runningCount": 1, "events": [], "loadBalancers": [],
            "deploymentConfiguration": {"deploymentCircuitBreaker": breaker},
            "networkConfiguration": {"awsvpcConfiguration": {"assignPublicIp": "ENABLED"}},
            "deployments": [self._deployment(arn, "COMPLETED")]}
        return arn

    def running(self, cluster: str, name: str) -> str:
        """The task definition ARN the service runs now."""
        return str(self.services[(cluster, name)]["taskDefinition"])

    def _deployment(self, arn: str, state: str) -> dict[str, Any]:
        return {"id": f"ecs-svc/{next(self._ids)}", "status": "PRIMARY",
                "taskDefinition": arn, "rolloutState": state}

    # the API ----------------------------------------------------------------------------
    def register_task_definition(self, **body: Any) -> dict[str, Any]:
        self._call("register_task_definition", **body)
        family = body["family"]
        revision = 1 + sum(1 for arn in self.definitions if f"/{family}:" in arn)
        arn = f"arn:aws:ecs:{REGION_ACCOUNT}:task-definition/{family}:{revision}"
        tags = body.pop("tags", [])
        self.definitions[arn] = {**body, "taskDefinitionArn": arn, "revision": revision}
        self.tags[arn] = tags
        return {"taskDefinition": self.definitions[arn]}

    def describe_task_definition(self, taskDefinition: str,  # noqa: N803
                                 include: list[str] | None = None) -> dict[str, Any]:
        self._call("describe_task_definition", taskDefinition=taskDefinition)
        if ":" not in taskDefinition:  # a bare family: its newest revision
            family = [a for a in self.definitions if f"/{taskDefinition}:" in a]
            if not family:
                raise client_error("ClientException", "DescribeTaskDefinition",
                                   "Unable to describe task definition.")
            taskDefinition = max(family, key=lambda a: int(a.rsplit(":", 1)[1]))  # noqa: N806
        arn = taskDefinition if taskDefinition in self.definitions else next(
            a for a in self.definitions if a.endswith("/" + taskDefinition))
        return {"taskDefinition": self.definitions[arn], "tags": self.tags[arn]}

    def list_task_definitions(self, familyPrefix: str, **kwargs: Any  # noqa: N803
                              ) -> dict[str, Any]:
        self._call("list_task_definitions", familyPrefix=familyPrefix, **kwargs)
        arns = sorted((a for a in self.definitions if f"/{familyPrefix}:" in a),
                      key=lambda a: int(a.rsplit(":", 1)[1]), reverse=True)
        return {"taskDefinitionArns": arns[:kwargs.get("maxResults", 100)]}

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        self._call("describe_services", cluster=cluster, services=services)
        assert len(services) <= 10, "DescribeServices takes at most 10 services"
        found, failures = [], []
        for name in services:
            svc = self.services.get((cluster, name))
            if svc is None:
                failures.append({"arn": name, "reason": "MISSING"})
                continue
            self._advance(cluster, name)
            found.append(_copy(svc))
        return {"services": found, "failures": failures}

    def update_service(self, cluster: str, service: str, taskDefinition: str,  # noqa: N803
                       forceNewDeployment: bool = False,  # noqa: N803
                       desiredCount: int | None = None) -> dict[str, Any]:  # noqa: N803
        self._call("update_service", cluster=cluster, service=service,
                   taskDefinition=taskDefinition)
        svc = self.services[(cluster, service)]
        svc["previous"] = svc["taskDefinition"]
        for old in svc["deployments"]:
            old["status"] = "ACTIVE"
        deployment = self._deployment(taskDefinition, "IN_PROGRESS")
        svc["deployments"] = [deployment, *svc["deployments"][:1]]
        svc["taskDefinition"] = taskDefinition
        queue = self.behaviour[service]
        svc["behaviour"] = queue.pop(0) if queue else Behaviour()
        self._polls[service] = 0
        return {"service": _copy(svc)}

    def _advance(self, cluster: str, name: str) -> None:
        svc = self.services[(cluster, name)]
        behaviour: Behaviour | None = svc.get("behaviour")
        if behaviour is None:
            return
        poll = self._polls[name]
        self._polls[name] += 1
        ours = svc["deployments"][0]
        if poll < len(behaviour.states):
            ours["rolloutState"] = behaviour.states[poll]
            if ours["rolloutState"] == "FAILED":
                ours["rolloutStateReason"] = "tasks failed to start"
                svc["events"].insert(0, {"message": f"(service {name}) deployment failed: "
                                                    "tasks failed to start."})
            return
        if behaviour.then == "circuit_breaker":
            back = self._deployment(svc["previous"], "IN_PROGRESS")
            svc["deployments"] = [back]
            svc["taskDefinition"] = svc["previous"]
            svc["events"].insert(0, {"message": f"(service {name}) rolling back to "
                                                f"{svc['previous']}"})
        elif behaviour.then == "superseded":
            other = self.register_task_definition(
                **{k: v for k, v in self.definitions[svc["taskDefinition"]].items()
                   if k not in {"taskDefinitionArn", "revision"}})
            arn = other["taskDefinition"]["taskDefinitionArn"]
            svc["deployments"] = [self._deployment(arn, "IN_PROGRESS")]
            svc["taskDefinition"] = arn
        svc["behaviour"] = None

    def list_tasks(self, cluster: str, **kwargs: Any) -> dict[str, Any]:
        self._call("list_tasks", cluster=cluster, **kwargs)
        if kwargs.get("desiredStatus") == "STOPPED":
            return {"taskArns": [f"arn:aws:ecs:{REGION_ACCOUNT}:task/{cluster}/dead1"]}
        names = ([kwargs["serviceName"]] if "serviceName" in kwargs else
                 [name for (c, name) in self.services if c == cluster])
        return {"taskArns": [f"arn:aws:ecs:{REGION_ACCOUNT}:task/{cluster}/live1-{name}"
                             for name in names]}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self._call("describe_tasks", cluster=cluster, tasks=tasks)
        out = []
        for arn in tasks:
            if arn.endswith("dead1"):
                out.append({"taskArn": arn, "stoppedReason": "Essential container in task "
                            "exited", "containers": [{"name": "web", "exitCode": 137,
                                                      "reason": "OutOfMemoryError"}]})
            else:  # a running task of service NAME (``live1-NAME``) on its ENI eni-NAME
                name = arn.rsplit("/", 1)[-1].removeprefix("live1").lstrip("-") or "1"
                out.append({"taskArn": arn, "group": f"service:{name}",
                            "attachments": [{"type": "ElasticNetworkInterface", "details": [
                                {"name": "networkInterfaceId", "value": f"eni-{name}"}]}]})
        return {"tasks": out}


def _copy(svc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in svc.items() if k not in {"behaviour", "previous"}}
    out["deployments"] = [dict(d) for d in svc["deployments"]]
    out["events"] = list(svc["events"])
    return out


class FakeEc2(Scripted):
    """Only the ENI lookup of public tasks: ENI ``eni-NAME`` answers as
    ``ec2-NAME.eu-west-1.compute.amazonaws.com``; those in ``gone`` no longer exist."""

    def __init__(self) -> None:
        super().__init__()
        self.gone: set[str] = set()

    def describe_network_interfaces(self, Filters: list[dict[str, Any]]  # noqa: N803
                                    ) -> dict[str, Any]:
        self._call("describe_network_interfaces", Filters=Filters)
        wanted = [v for f in Filters if f["Name"] == "network-interface-id" for v in f["Values"]]
        return {"NetworkInterfaces": [
            {"NetworkInterfaceId": eni, "Association": {
                "PublicDnsName": f"ec2-{eni.removeprefix('eni-')}.eu-west-1.compute.amazonaws.com"}}
            for eni in wanted if eni not in self.gone]}


class FakeElb(Scripted):
    """A target group behind one load balancer."""

    def describe_target_groups(self, TargetGroupArns: list[str]) -> dict[str, Any]:  # noqa: N803
        """Target group ``arn:tg/NAME`` sits behind load balancer ``arn:lb/app/NAME/1``."""
        self._call("describe_target_groups", TargetGroupArns=TargetGroupArns)
        return {"TargetGroups": [{"TargetGroupArn": arn, "LoadBalancerArns": [
            f"arn:lb/app/{arn.rsplit('/', 1)[-1]}/1"]} for arn in TargetGroupArns]}

    def describe_load_balancers(self, LoadBalancerArns: list[str]) -> dict[str, Any]:  # noqa: N803
        self._call("describe_load_balancers", LoadBalancerArns=LoadBalancerArns)
        return {"LoadBalancers": [{"LoadBalancerArn": arn, "DNSName":
                                   f"{arn.split('/')[2]}-1.eu-west-1.elb.amazonaws.com"}
                                  for arn in LoadBalancerArns]}


class FakeLambda(Scripted):
    """An image function with published versions and an alias; updates go as scripted."""

    def __init__(self, function: str, image: str) -> None:
        super().__init__()
        self.function = function
        self.image = image
        self.versions: dict[str, str] = {"1": image}
        self.aliases: dict[str, str] = {"live": "1"}
        self.status = "Successful"
        self.reason = ""
        # statuses shown by successive GetFunctionConfiguration calls after an update
        self.after_update: list[str] = []
        self._progress: list[str] = []
        self.tags: dict[str, str] = {}
        self.descriptions: dict[str, str] = {}  # version -> the Description it was published with

    def _config(self) -> dict[str, Any]:
        if self._progress:
            self.status = self._progress.pop(0)
            if self.status == "Failed":
                self.reason = "The image manifest or layer media type is not supported."
        return {"FunctionArn": f"arn:aws:lambda:{REGION_ACCOUNT}:function:{self.function}",
                "PackageType": "Image", "State": "Active", "LastUpdateStatus": self.status,
                "LastUpdateStatusReason": self.reason, "Environment": {"Variables": {}}}

    def get_function(self, FunctionName: str, Qualifier: str | None = None  # noqa: N803
                     ) -> dict[str, Any]:
        self._call("get_function", FunctionName=FunctionName, Qualifier=Qualifier)
        version = self.aliases.get(Qualifier, Qualifier) if Qualifier else None
        if version is not None and version not in self.versions:
            raise client_error("ResourceNotFoundException", "GetFunction")
        image = self.versions[version] if version else self.image
        return {"Configuration": {**self._config(), "Version": version or "$LATEST",
                                  "Description": self.descriptions.get(version or "", "")},
                "Code": {"ImageUri": image}, "Tags": dict(self.tags)}

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:  # noqa: N803
        self._call("get_function_configuration", FunctionName=FunctionName)
        return self._config()

    def get_alias(self, FunctionName: str, Name: str) -> dict[str, Any]:  # noqa: N803
        self._call("get_alias", FunctionName=FunctionName, Name=Name)
        return {"FunctionVersion": self.aliases[Name]}

    def update_function_code(self, FunctionName: str, ImageUri: str) -> dict[str, Any]:  # noqa: N803
        self._call("update_function_code", FunctionName=FunctionName, ImageUri=ImageUri)
        self.image = ImageUri
        self._progress = list(self.after_update) or ["Successful"]
        self.status = "InProgress"
        return {}

    def update_function_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self._call("update_function_configuration", **kwargs)
        return {}

    def publish_version(self, FunctionName: str, Description: str = ""  # noqa: N803
                        ) -> dict[str, Any]:
        self._call("publish_version", FunctionName=FunctionName)
        version = str(len(self.versions) + 1)
        self.versions[version] = self.image
        self.descriptions[version] = Description
        return {"Version": version}

    def update_alias(self, FunctionName: str, Name: str, FunctionVersion: str,  # noqa: N803
                     RoutingConfig: dict[str, Any] | None = None,  # noqa: N803
                     ) -> dict[str, Any]:
        self._call("update_alias", FunctionName=FunctionName, Name=Name,
                   FunctionVersion=FunctionVersion)
        self.aliases[Name] = FunctionVersion
        return {}

    def tag_resource(self, Resource: str, Tags: dict[str, str]) -> dict[str, Any]:  # noqa: N803
        self._call("tag_resource", Resource=Resource, Tags=Tags)
        self.tags.update(Tags)
        return {}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Pages:
            def paginate(self, FunctionName: str) -> Iterator[dict[str, Any]]:  # noqa: N803
                fake._call("list_versions_by_function", FunctionName=FunctionName)
                yield {"Versions": [{"Version": "$LATEST"}] + [
                    {"Version": v} for v in fake.versions]}

        return Pages()


class FakeAws:
    """Stands in for ``AwsClients``: hands out the fakes by service name."""

    def __init__(self, **clients: Any) -> None:
        self.clients = clients
        self.closed = False

    def client(self, name: str) -> Any:
        return self.clients[name]

    def close(self) -> None:
        self.closed = True
