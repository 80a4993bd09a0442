"""ECS: read a service and its task definition, register, update, and wait for OUR rollout."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from release.adapters.aws.clients import explain
from release.adapters.aws.ecs_watch import RolloutFailedError
from release.errors import ReleaseError
from release.planning import rollout

__all__ = ["Definition", "Reads", "Rollout", "RolloutFailedError", "ServiceState", "describe",
           "describe_services", "failure_details", "family_revisions", "missing", "register",
           "start_rollout"]


@dataclass(frozen=True)
class Definition:
    """A registered task definition revision: its ARN, body and tags."""

    arn: str
    body: dict[str, Any]
    tags: dict[str, str]


@dataclass(frozen=True)
class ServiceState:
    """What an ECS service runs now."""

    task_definition_arn: str
    task_definition: dict[str, Any]
    tags: dict[str, str]
    desired_count: int
    running_count: int
    rollback_on_failure: bool = False  # the deployment circuit breaker rolls back by itself
    load_balancers: tuple[dict[str, Any], ...] = ()
    latest: Definition | None = None  # the family's newest ACTIVE revision, when asked for
    # its DescribeServices entry, for the URL lookup of a service left as it was
    described: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Rollout:
    """A deployment we started: its id and the task definition it rolls out."""

    deployment_id: str
    task_definition_arn: str


def describe_services(ecs: Any, cluster: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Service name -> its DescribeServices entry (INACTIVE ones left out), 10 per call."""
    out: dict[str, dict[str, Any]] = {}
    for batch in rollout.batches(names):
        try:
            found = ecs.describe_services(cluster=cluster, services=batch)
        except Exception as exc:  # noqa: BLE001
            what = "services" if len(batch) > 1 else "service"
            raise explain(exc, f"describe ECS {what} {cluster}/{','.join(batch)}") from None
        out.update({s["serviceName"]: s for s in found.get("services", [])
                    if s.get("status") != "INACTIVE"})
    return out


class Reads:
    """The services one command reads, described together on first use: 10 per call, per
    cluster, instead of one DescribeServices per service. Thread-safe."""

    def __init__(self, client: Callable[[], Any], wanted: Iterable[tuple[str, str]]) -> None:
        self._client = client
        self._wanted: dict[str, list[str]] = {}
        for cluster, service in wanted:
            self._wanted.setdefault(cluster, []).append(service)
        self._found: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def service(self, cluster: str, service: str) -> dict[str, Any] | None:
        """The DescribeServices entry of ``service`` (None: missing or INACTIVE)."""
        with self._lock:
            if cluster not in self._found:
                names = list(dict.fromkeys([*self._wanted.get(cluster, []), service]))
                self._found[cluster] = describe_services(self._client(), cluster, names)
            if service not in self._found[cluster]:  # not announced: read it alone
                self._found[cluster].update(describe_services(self._client(), cluster,
                                                              [service]))
            return self._found[cluster].get(service)


def _definition(found: dict[str, Any]) -> Definition:
    body = found["taskDefinition"]
    return Definition(body["taskDefinitionArn"], body,
                      {t["key"]: t["value"] for t in found.get("tags", [])})


def _task_definition(ecs: Any, arn: str) -> Definition:
    try:
        return _definition(ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]))
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"describe task definition {arn}") from None


def _latest(ecs: Any, family: str) -> Definition | None:
    """The family's newest ACTIVE revision (DescribeTaskDefinition of the bare family)."""
    try:
        found = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "ClientException":  # ECS: "Unable to describe task definition."
            return None
        raise explain(exc, f"describe the newest revision of {family}") from None
    return _definition(found)


def missing(cluster: str, service: str) -> ReleaseError:
    """The error for a service that does not exist (or is INACTIVE)."""
    return ReleaseError(f"ECS service {service} not found in cluster {cluster}",
                        "create the service in the account (Terraform, CloudFormation), or "
                        "fix ecs.service / ecs.cluster in the environment file; for the local "
                        "cloud, `release local seed` creates what environments/local.yaml "
                        "names")


def describe(ecs: Any, cluster: str, service: str, *, family: str | None = None,
             found: dict[str, Any] | None = None) -> ServiceState:
    """The service's current task definition (with tags) and counts.

    ``found``: its DescribeServices entry when already read (see ``Reads``). ``family``:
    also read the family's newest revision, with one DescribeTaskDefinition of the bare
    family; when that is the running revision (the usual case) it is the only read.
    """
    svc = found if found is not None else describe_services(ecs, cluster, [service]).get(service)
    if svc is None:
        raise missing(cluster, service)
    arn = svc["taskDefinition"]
    latest = _latest(ecs, family) if family else None
    running = latest if latest is not None and latest.arn == arn else _task_definition(ecs, arn)
    breaker = svc.get("deploymentConfiguration", {}).get("deploymentCircuitBreaker", {})
    return ServiceState(arn, running.body, running.tags, svc.get("desiredCount", 0),
                        svc.get("runningCount", 0),
                        bool(breaker.get("enable") and breaker.get("rollback")),
                        tuple(svc.get("loadBalancers", [])), latest, svc)


def register(ecs: Any, task_definition: dict[str, Any]) -> str:
    """Register a task definition revision; return its ARN."""
    try:
        done = ecs.register_task_definition(**task_definition)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"register task definition {task_definition.get('family')}") from None
    return str(done["taskDefinition"]["taskDefinitionArn"])


def start_rollout(ecs: Any, cluster: str, service: str, arn: str,
                  desired_count: int | None = None, *,
                  configuration: dict[str, Any] | None = None) -> Rollout:
    """UpdateService to ``arn`` with a new deployment (and ``configuration`` as its
    deploymentConfiguration when given); remember that deployment's id."""
    params: dict[str, Any] = {"cluster": cluster, "service": service, "taskDefinition": arn,
                              "forceNewDeployment": True}
    if configuration is not None:
        params["deploymentConfiguration"] = configuration
    if desired_count is not None:
        params["desiredCount"] = desired_count
    try:
        svc = ecs.update_service(**params)["service"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"update ECS service {cluster}/{service}") from None
    primary = [d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"]
    if not primary:
        raise ReleaseError(f"ECS returned no PRIMARY deployment for {cluster}/{service}")
    return Rollout(str(primary[0]["id"]), arn)


def family_revisions(ecs: Any, family: str) -> list[str]:
    """Every ACTIVE revision ARN of ``family``, newest first."""
    arns: list[str] = []
    token: str | None = None
    try:
        while True:
            page = ecs.list_task_definitions(familyPrefix=family, sort="DESC", status="ACTIVE",
                                             **({"nextToken": token} if token else {}))
            arns += [a for a in page.get("taskDefinitionArns", [])
                     if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
            token = page.get("nextToken")
            if not token:
                return arns
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"list task definitions of {family}") from None


def failure_details(ecs: Any, cluster: str, service: str, described: dict[str, Any], *,
                    events: int = 5, tasks: int = 5,
                    logs: Callable[[], Any] | None = None) -> str:
    """The last service events, why recent tasks stopped and (``logs`` gives a CloudWatch
    Logs client) the last log lines of the newest stopped task's awslogs containers, for a
    failure's hint.

    Best effort: a failure to read them must not hide the failure being reported.
    """
    lines = [f"  {e.get('message')}" for e in described.get("events", [])[:events]]
    out = ["last service events:", *lines] if lines else []
    try:
        arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED",
                              maxResults=tasks).get("taskArns", [])
        stopped = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    except Exception:  # noqa: BLE001
        stopped = []
    reasons = []
    for task in stopped:
        exits = ", ".join(f"{c.get('name')} exit {c.get('exitCode')}"
                          + (f" ({c['reason']})" if c.get("reason") else "")
                          for c in task.get("containers", []) if "exitCode" in c or
                          c.get("reason"))
        reasons.append(f"  {task.get('taskArn', '').rsplit('/', 1)[-1]}: "
                       f"{task.get('stoppedReason', 'no reason given')}"
                       + (f"; {exits}" if exits else ""))
    if reasons:
        out += ["stopped tasks:", *reasons]
    if logs is not None and stopped:
        out += last_log_lines(ecs, logs, stopped[0])
    return "\n".join(out) or ("check the service's events and stopped tasks in the ECS "
                              "console")


def last_log_lines(ecs: Any, logs: Callable[[], Any], task: dict[str, Any],
                   lines: int = 10) -> list[str]:
    """The last lines each awslogs container of ``task`` wrote (stream
    ``<prefix>/<container>/<task id>``, as ECS names it); [] when there are none."""
    out: list[str] = []
    task_id = str(task.get("taskArn", "")).rsplit("/", 1)[-1]
    try:
        body = ecs.describe_task_definition(
            taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        for container in body.get("containerDefinitions", []):
            config = container.get("logConfiguration") or {}
            options = config.get("options") or {}
            if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
                continue
            stream = f"{options.get('awslogs-stream-prefix', 'ecs')}/{container['name']}/{task_id}"
            events = logs().get_log_events(logGroupName=options["awslogs-group"],
                                         logStreamName=stream, limit=lines,
                                         startFromHead=False).get("events", [])
            if events:
                out += [f"last log lines of {container['name']} ({task_id}):",
                        *(f"  {e.get('message', '')}" for e in events)]
    except Exception:  # noqa: BLE001 - best effort, as the rest of the details
        return out
    return out
