"""A counting HTTP proxy in front of moto that also simulates ECS rollouts and tasks.

moto starts no task for a service and marks every deployment COMPLETED at once, so a
deploy tool that waits (release's batched DescribeServices, ecs-deploy's once-a-second
DescribeServices + ListTasks + DescribeTasks) would either finish instantly or never.
This proxy forwards every request to moto unchanged, counts it per client and per
operation, and rewrites the ECS answers so that every tool sees the same rollout:

- ``UpdateService`` starts a rollout of ``rollout_seconds`` with a fresh deployment id.
- During it, ``DescribeServices`` shows that deployment PRIMARY, ``rolloutState``
  IN_PROGRESS, ``runningCount`` 0, next to the previous deployment ACTIVE with the old
  tasks running (an ECS rolling update: minimumHealthyPercent 100); ``ListTasks`` and
  ``DescribeTasks`` show only the old task definition's tasks.
- After it, the PRIMARY deployment alone, COMPLETED, ``runningCount`` = desiredCount, and
  desiredCount RUNNING Fargate tasks of the service's new task definition.
- ``ListTasks`` without a service lists the tasks of every service of the cluster (100 a
  page), as ECS does.

Clients are told apart by the ``app/<id>`` part of their User-Agent (botocore adds it
from ``AWS_SDK_UA_APP_ID``). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
_APP_ID = re.compile(r"\bapp/([A-Za-z0-9._-]+)")
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
OTHER = "untagged"


@dataclass
class _Rollout:
    cluster_arn: str
    service: str
    deployment_id: str
    task_definition: str
    previous: str | None
    desired: int
    started: float


@dataclass
class Counts:
    """Calls per client tag, per ``service:Operation``."""

    by_client: dict[str, Counter[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, client: str, operation: str) -> None:
        """Count one call."""
        with self.lock:
            self.by_client.setdefault(client, Counter())[operation] += 1

    def of(self, client: str) -> Counter[str]:
        """A copy of one client's counts."""
        with self.lock:
            return Counter(self.by_client.get(client, Counter()))

    def of_prefix(self, prefix: str) -> Counter[str]:
        """The counts of every client whose tag starts with ``prefix``, added up."""
        total: Counter[str] = Counter()
        with self.lock:
            for client, counts in self.by_client.items():
                if client.startswith(prefix):
                    total.update(counts)
        return total

    def clients(self) -> list[str]:
        """Every client tag seen."""
        with self.lock:
            return sorted(self.by_client)


class RolloutSimulator:
    """The ECS state the proxy adds on top of moto: rollouts, tasks, task definitions."""

    def __init__(self, rollout_seconds: float, region: str, account: str) -> None:
        self.rollout_seconds = rollout_seconds
        self.region = region
        self.account = account
        self._lock = threading.Lock()
        self._rollouts: dict[tuple[str, str], _Rollout] = {}
        self._current: dict[tuple[str, str], str] = {}  # (cluster arn, service) -> task def
        self._images: dict[str, list[dict[str, str]]] = {}  # task def arn -> containers
        self._tasks: dict[str, dict[str, Any]] = {}  # task arn -> task

    # --- what moto says -------------------------------------------------------------
    def learn(self, operation: str, body: dict[str, Any]) -> None:
        """Remember task definitions' containers and services' task definitions."""
        with self._lock:
            definition = body.get("taskDefinition")
            if isinstance(definition, dict) and definition.get("taskDefinitionArn"):
                self._images[definition["taskDefinitionArn"]] = [
                    {"name": c.get("name", ""), "image": c.get("image", "")}
                    for c in definition.get("containerDefinitions", [])]
            if operation in {"DescribeServices", "CreateService"}:
                services = body.get("services") or [body.get("service") or {}]
                for svc in services:
                    key = (svc.get("clusterArn", ""), svc.get("serviceName", ""))
                    if key not in self._rollouts and svc.get("taskDefinition"):
                        self._current[key] = svc["taskDefinition"]

    # --- rewriting ------------------------------------------------------------------
    def update_service(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new rollout for the updated service; its answer shows the new deployment."""
        svc = body.get("service") or {}
        key = (svc.get("clusterArn", ""), svc.get("serviceName", ""))
        now = time.time()
        with self._lock:
            previous = self._current.get(key)
            new = svc.get("taskDefinition", "")
            seed = f"{key}{new}{now}".encode()
            rollout = _Rollout(key[0], key[1],
                               f"ecs-svc/{int(hashlib.sha256(seed).hexdigest()[:15], 16)}",
                               new, previous if previous != new else None,
                               int(svc.get("desiredCount") or 0), now)
            self._rollouts[key] = rollout
            self._current[key] = new
        self._rewrite_service(svc, rollout, now)
        return body

    def describe_services(self, body: dict[str, Any]) -> dict[str, Any]:
        """Each service under rollout shows its deployments as ECS would now."""
        now = time.time()
        for svc in body.get("services", []):
            with self._lock:
                rollout = self._rollouts.get((svc.get("clusterArn", ""),
                                              svc.get("serviceName", "")))
            if rollout is not None:
                self._rewrite_service(svc, rollout, now)
        return body

    def _done(self, rollout: _Rollout, now: float) -> bool:
        return now - rollout.started >= self.rollout_seconds

    def _rewrite_service(self, svc: dict[str, Any], rollout: _Rollout, now: float) -> None:
        desired = rollout.desired
        done = self._done(rollout, now)
        primary = {
            "id": rollout.deployment_id, "status": "PRIMARY",
            "taskDefinition": rollout.task_definition, "desiredCount": desired,
            "pendingCount": 0 if done else desired, "runningCount": desired if done else 0,
            "failedTasks": 0, "createdAt": rollout.started,
            "updatedAt": rollout.started + self.rollout_seconds if done else rollout.started,
            "launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux",
            "rolloutState": "COMPLETED" if done else "IN_PROGRESS",
            "rolloutStateReason": (f"ECS deployment {rollout.deployment_id} completed."
                                   if done else
                                   f"ECS deployment {rollout.deployment_id} in progress."),
        }
        deployments = [primary]
        if not done and rollout.previous:
            deployments.append({
                "id": f"{rollout.deployment_id}-previous", "status": "ACTIVE",
                "taskDefinition": rollout.previous, "desiredCount": desired,
                "pendingCount": 0, "runningCount": desired, "failedTasks": 0,
                "createdAt": rollout.started - 3600, "updatedAt": rollout.started,
                "launchType": "FARGATE", "platformVersion": "1.4.0",
                "platformFamily": "Linux", "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment completed."})
        svc["deployments"] = deployments
        svc["taskDefinition"] = rollout.task_definition
        svc["runningCount"] = desired if (done or rollout.previous) else 0
        svc["pendingCount"] = 0 if done else desired

    def list_tasks(self, request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """RUNNING tasks of the service (or, without one, of every service of the cluster):
        the old revision's during a rollout, the new one's after it."""
        service = str(request.get("serviceName", "")).rsplit("/", 1)[-1]
        cluster = str(request.get("cluster", "default")).rsplit("/", 1)[-1]
        if request.get("desiredStatus", "RUNNING") != "RUNNING":
            return body
        now = time.time()
        with self._lock:
            found = [r for (c, s), r in sorted(self._rollouts.items())
                     if (s == service or not service) and c.rsplit("/", 1)[-1] == cluster]
            if not found:
                return body
            tasks = []
            for rollout in found:
                arn = (rollout.task_definition if self._done(rollout, now)
                       else rollout.previous)
                if arn is not None:
                    tasks += [self._task(rollout, arn, i) for i in range(rollout.desired)]
        arns = [t["taskArn"] for t in tasks] + list(body.get("taskArns", []))
        start = int(request.get("nextToken") or 0)
        size = int(request.get("maxResults") or 100)
        body["taskArns"] = arns[start:start + size]
        body.pop("nextToken", None)
        if start + size < len(arns):
            body["nextToken"] = str(start + size)
        return body

    def describe_tasks(self, request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Our synthesized tasks for the ARNs we handed out; moto's answer for the rest."""
        with self._lock:
            ours = [self._tasks[a] for a in request.get("tasks", []) if a in self._tasks]
        if not ours:
            return body
        known = {t["taskArn"] for t in ours}
        body["tasks"] = ours + [t for t in body.get("tasks", []) if t.get("taskArn") not in known]
        body["failures"] = [f for f in body.get("failures", []) if f.get("arn") not in known]
        return body

    def _task(self, rollout: _Rollout, definition: str, index: int) -> dict[str, Any]:
        cluster = rollout.cluster_arn.rsplit("/", 1)[-1]
        digest = hashlib.sha256(f"{rollout.cluster_arn}{definition}{index}".encode())
        task_id = digest.hexdigest()[:32]
        arn = f"arn:aws:ecs:{self.region}:{self.account}:task/{cluster}/{task_id}"
        if arn in self._tasks:
            return self._tasks[arn]
        started = rollout.started + (self.rollout_seconds if definition ==
                                     rollout.task_definition else -3600)
        containers = [{
            "containerArn": f"arn:aws:ecs:{self.region}:{self.account}:container/{cluster}/"
                            f"{task_id}/{hashlib.sha256(c['name'].encode()).hexdigest()[:36]}",
            "taskArn": arn, "name": c["name"], "image": c["image"],
            "lastStatus": "RUNNING", "healthStatus": "UNKNOWN",
        } for c in self._images.get(definition, [])]
        task = {
            "taskArn": arn, "clusterArn": rollout.cluster_arn, "taskDefinitionArn": definition,
            "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "launchType": "FARGATE",
            "platformVersion": "1.4.0", "cpu": "256", "memory": "512",
            "group": f"service:{rollout.service}", "startedBy": rollout.deployment_id,
            "createdAt": started - 5, "startedAt": started, "connectivity": "CONNECTED",
            "containers": containers, "version": 3, "healthStatus": "UNKNOWN",
            "attachments": [{
                "id": task_id[:8] + "-eni", "type": "ElasticNetworkInterface",
                "status": "ATTACHED",
                "details": [{"name": "networkInterfaceId", "value": f"eni-{task_id[:17]}"},
                            {"name": "privateIPv4Address", "value": "10.0.0.10"}]}],
        }
        self._tasks[arn] = task
        return task


# Lambda's REST API: (method, path pattern) -> operation name
_LAMBDA = [(method, re.compile(pattern), name) for method, pattern, name in (
    ("GET", r"^/[0-9-]+/functions/[^/]+/configuration$", "GetFunctionConfiguration"),
    ("PUT", r"^/[0-9-]+/functions/[^/]+/configuration$", "UpdateFunctionConfiguration"),
    ("PUT", r"^/[0-9-]+/functions/[^/]+/code$", "UpdateFunctionCode"),
    ("POST", r"^/[0-9-]+/functions/[^/]+/versions$", "PublishVersion"),
    ("GET", r"^/[0-9-]+/functions/[^/]+/versions$", "ListVersionsByFunction"),
    ("GET", r"^/[0-9-]+/functions/[^/]+/aliases/[^/]+$", "GetAlias"),
    ("PUT", r"^/[0-9-]+/functions/[^/]+/aliases/[^/]+$", "UpdateAlias"),
    ("POST", r"^/[0-9-]+/functions/[^/]+/aliases$", "CreateAlias"),
    ("GET", r"^/[0-9-]+/functions/[^/]+$", "GetFunction"),
    ("POST", r"^/[0-9-]+/functions$", "CreateFunction"),
    ("POST", r"^/[0-9-]+/tags/.+$", "TagResource"),
    ("GET", r"^/[0-9-]+/tags/.+$", "ListTags"),
)]
# Operations that change something (everything else only reads).
_MUTATING = ("Register", "Deregister", "Update", "Create", "Delete", "Put", "Publish", "Tag",
             "Untag", "Run", "Start", "Stop")


def is_mutating(operation: str) -> bool:
    """Whether ``service:Operation`` changes anything."""
    return operation.split(":", 1)[-1].startswith(_MUTATING)


def operation_of(headers: Any, body: bytes, method: str, path: str) -> str:
    """``service:Operation`` of one AWS request (JSON target, query Action, or REST)."""
    scope = _SCOPE.search(headers.get("Authorization", "") or "")
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if body and "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return f"{service}:{action[0]}"
    where = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
    if service == "lambda":
        for verb, pattern, name in _LAMBDA:
            if verb == method and pattern.match(where):
                return f"lambda:{name}"
    return f"{service}:{method} /{where.split('/')[1] if '/' in where else ''}"


class CountingProxy:
    """Start with ``start()``, stop with ``stop()``; it also stops itself after ``lifetime``."""

    def __init__(self, upstream_port: int, simulator: RolloutSimulator,
                 lifetime: float = 1800.0, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.simulator = simulator
        self.counts = Counts()
        self.lifetime = lifetime
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

            def do_PUT(self) -> None:
                proxy.handle(self)

            def do_DELETE(self) -> None:
                proxy.handle(self)

            def do_HEAD(self) -> None:
                proxy.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def start(self) -> CountingProxy:
        """Serve in a background thread."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._timer.cancel()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Forward one request to moto, count it, rewrite ECS answers."""
        body = _read_body(request)
        agent = request.headers.get("User-Agent", "") or ""
        app = _APP_ID.search(agent)
        client = app.group(1) if app else OTHER
        operation = operation_of(request.headers, body, request.command, request.path)
        self.counts.add(client, operation)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            upstream.request(request.command, request.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            status, reply_headers = response.status, response.getheaders()
        finally:
            upstream.close()
        if operation.startswith("ecs:") and status == 200 and payload:
            payload = self._rewrite(operation.split(":", 1)[1], body, payload)
        request.send_response(status)
        for name, value in reply_headers:
            if name.lower() not in _HOP:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)

    def _rewrite(self, operation: str, body: bytes, payload: bytes) -> bytes:
        try:
            answer = json.loads(payload)
            asked = json.loads(body) if body else {}
        except ValueError:
            return payload
        sim = self.simulator
        sim.learn(operation, answer)
        if operation == "UpdateService":
            answer = sim.update_service(answer)
        elif operation == "DescribeServices":
            answer = sim.describe_services(answer)
        elif operation == "ListTasks":
            answer = sim.list_tasks(asked, answer)
        elif operation == "DescribeTasks":
            answer = sim.describe_tasks(asked, answer)
        else:
            return payload
        return json.dumps(answer).encode()


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(request.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                request.rfile.readline()
                break
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
        return b"".join(chunks)
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""
