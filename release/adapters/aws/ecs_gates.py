"""The gates around an ECS traffic move, on the wire: a one-off task from the new task
definition that must exit 0 (migrations), and an HTTP smoke check against the new revision.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from release.adapters.aws.clients import explain
from release.adapters.aws.ecs import last_log_lines
from release.errors import ReleaseError

BODY_LIMIT = 64 * 1024  # what a smoke check reads of a body


@dataclass(frozen=True)
class TaskRun:
    """A one-off task to run: its task definition, command and where."""

    cluster: str
    task_definition: str
    container: str
    command: Sequence[str]
    network: Mapping[str, Any] | None  # the service's networkConfiguration
    timeout_seconds: float


@dataclass(frozen=True)
class TaskResult:
    """How the task ended: passed (every essential container exited 0), why, its log."""

    passed: bool
    detail: str
    log: list[str]
    task_arn: str


def _start(ecs: Any, run: TaskRun) -> str:
    params: dict[str, Any] = {
        "cluster": run.cluster, "taskDefinition": run.task_definition, "count": 1,
        "startedBy": "release", "launchType": "FARGATE",
        "overrides": {"containerOverrides": [{"name": run.container,
                                              "command": list(run.command)}]}}
    if run.network:
        params["networkConfiguration"] = dict(run.network)
    try:
        answer = ecs.run_task(**params)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"run a task of {run.task_definition}") from None
    if not answer.get("tasks"):
        why = "; ".join(f"{f.get('arn', '')}: {f.get('reason')}" for f in answer.get(
            "failures", [])) or "no task started"
        raise ReleaseError(f"RunTask started nothing: {why}",
                           "check the cluster's capacity and the task definition")
    return str(answer["tasks"][0]["taskArn"])


def _essential(ecs: Any, arn: str) -> set[str]:
    body = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return {str(c["name"]) for c in body.get("containerDefinitions", [])
            if c.get("essential", True)}


def _verdict(task: Mapping[str, Any], essential: set[str]) -> tuple[bool, str]:
    exits = {str(c.get("name")): c.get("exitCode") for c in task.get("containers", [])}
    bad = {name: exits.get(name) for name in essential if exits.get(name) != 0}
    if not bad:
        return True, "every essential container exited 0"
    said = ", ".join(f"{name} exit {code if code is not None else 'none'}"
                     for name, code in sorted(bad.items(), key=lambda kv: kv[0]))
    return False, f"{said} ({task.get('stoppedReason', 'no reason given')})"


def run_task(ecs: Any, logs: Callable[[], Any], run: TaskRun, *,
             clock: Callable[[], float], sleep: Callable[[float], None],
             every: float = 1.0) -> TaskResult:
    """RunTask, wait until it stops (stopping it at the timeout), judge its exit codes and
    read its last log lines."""
    arn = _start(ecs, run)
    deadline = clock() + run.timeout_seconds
    try:
        essential = _essential(ecs, run.task_definition)
        while True:
            task = ecs.describe_tasks(cluster=run.cluster, tasks=[arn])["tasks"][0]
            if task.get("lastStatus") == "STOPPED":
                break
            if clock() >= deadline:
                ecs.stop_task(cluster=run.cluster, task=arn, reason="release: the task ran "
                              f"longer than {run.timeout_seconds:g}s")
                return TaskResult(False, f"still running after {run.timeout_seconds:g}s: "
                                  "stopped", [], arn)
            sleep(every)
    except ReleaseError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"follow task {arn}") from None
    passed, detail = _verdict(task, essential)
    return TaskResult(passed, detail, last_log_lines(ecs, logs, task, lines=20), arn)


def _refused_host(host: str) -> str | None:
    """Why a smoke check must not reach ``host`` (a private or link-local address, e.g.
    the instance metadata service), or None. Loopback is the local cloud's."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"{host} does not resolve ({exc.strerror or exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback:
            continue
        if address.is_private or address.is_link_local or address.is_reserved:
            return f"{host} resolves to {address}, a private address"
    return None


def _get(url: str, timeout: float) -> tuple[int, str]:
    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, method="GET"),  # noqa: S310 - http(s) only
                         timeout=timeout) as answer:
            return int(answer.status), answer.read(BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(BODY_LIMIT).decode("utf-8", "replace")


def smoke(url: str, *, status: int, body_contains: str | None, timeout_seconds: float,
          clock: Callable[[], float], sleep: Callable[[float], None]) -> tuple[bool, str]:
    """GET ``url`` until it answers ``status`` (with ``body_contains``) or the time is up;
    (passed, what it answered last). Redirects are not followed; private hosts refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, f"{url} is not an http(s) URL"
    refused = _refused_host(parts.hostname)
    if refused:
        return False, f"not checked: {refused}"
    deadline = clock() + timeout_seconds
    last = "no answer"
    while True:
        try:
            code, body = _get(url, max(1.0, min(5.0, timeout_seconds)))
            last = f"GET {parts.path or '/'} answered {code}"
            if code == status and (body_contains is None or body_contains in body):
                return True, last
            if code == status:
                last += f" without {body_contains!r} in its body"
        except (OSError, ValueError) as exc:
            last = f"GET {parts.path or '/'} failed: {exc}"
        if clock() >= deadline:
            return False, f"{last} (wanted {status})"
        sleep(0.5)


def test_url(ecs: Any, cluster: str, service: str, task_definition: str) -> str | None:
    """The URL of the service's test listener: a loopback binding of one of its tasks of
    ``task_definition`` (the local cloud binds a new revision's tasks there while its
    deployment is under way); None when there is none (on AWS the test route is a load
    balancer listener rule, which this does not look up)."""
    try:
        arns = ecs.list_tasks(cluster=cluster, serviceName=service,
                              desiredStatus="RUNNING").get("taskArns", [])
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100])["tasks"] if arns else []
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"find the test URL of {cluster}/{service}") from None
    for task in tasks:
        if task.get("taskDefinitionArn") != task_definition:
            continue
        for container in task.get("containers", []):
            for binding in container.get("networkBindings", []):
                port = binding.get("hostPort")
                if binding.get("bindIP") == "127.0.0.1" and isinstance(port, int):
                    return f"http://127.0.0.1:{port}"
    return None
