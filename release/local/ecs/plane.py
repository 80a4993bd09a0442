"""The control plane: the ECS API front's ``Handler``, and the loop that runs services.

Every ``timing.poll_seconds`` it polls each service's tasks, lets the rollout logic decide
(``rollout.step``), starts and stops tasks through the runtime, and points each service's
listener at the healthy tasks of its newest deployment that has any (so a rollout moves
the URL only once the new tasks are healthy). Services moto already holds when the plane
starts (a restart) are adopted and run again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from release.local.ecs import rollout, tasks_api
from release.local.ecs.api import EcsError, Json
from release.local.ecs.listener import ServiceListener
from release.local.ecs.model import (
    DeploymentConfig,
    ServiceRecord,
    StartTask,
    StopTask,
    TaskSpec,
    TaskState,
    Timing,
)

Key = tuple[str, str]  # (cluster name, service name)
KEPT_STOPPED = 200  # stopped tasks kept for DescribeTasks, newest last
_log = logging.getLogger(__name__)


class Plane:
    """Services as ECS runs them, on a runtime; answers the ECS operations it owns."""

    def __init__(self, runtime: Any, task_definition: Callable[[str], Mapping[str, Any]], *,
                 region: str, account_id: str, timing: Timing, ports_file: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self._runtime = runtime
        self._task_definition = task_definition  # ARN -> DescribeTaskDefinition's body
        self._region, self._account = region, account_id
        self._timing, self._clock = timing, clock
        self._ports_file = ports_file
        self._lock = threading.RLock()
        self._services: dict[Key, ServiceRecord] = {}
        self._specs: dict[str, TaskSpec] = {}
        self._stopped: dict[str, TaskState] = {}
        self._listeners: dict[Key, ServiceListener] = {}
        self._ports: dict[str, int] = self._read_ports()

    # -- the Handler ----------------------------------------------------------------------

    def create_service(self, request: Json, moto_answer: Json) -> Json:
        """Start deploying the service moto created."""
        service = moto_answer.get("service") or {}
        with self._lock:
            self._adopt(service, request.get("deploymentConfiguration"))
            return {**moto_answer, "service": self._overlay(service)}

    def update_service(self, request: Json, moto_answer: Json) -> Json:
        """A new deployment (task definition changed or forced), or a new desired count."""
        service = moto_answer.get("service") or {}
        with self._lock:
            record = self._services.get(self._key(service)) or self._adopt(service, None)
            config = _config(request.get("deploymentConfiguration"), record.config)
            rollout.update(record, now=self._clock(),
                           task_definition=service.get("taskDefinition")
                           if "taskDefinition" in request else None,
                           desired_count=request.get("desiredCount"),
                           force_new_deployment=bool(request.get("forceNewDeployment")),
                           config=config)
            return {**moto_answer, "service": self._overlay(service)}

    def delete_service(self, request: Json, moto_answer: Json) -> Json:  # noqa: ARG002
        """Stop the service's tasks and forget it."""
        service = moto_answer.get("service") or {}
        with self._lock:
            record = self._services.pop(self._key(service), None)
            for arn in list(record.tasks) if record else []:
                self._runtime.stop(arn, "ServiceSchedulerInitiated", "Service was deleted")
            listener = self._listeners.pop(self._key(service), None)
        if listener is not None:
            listener.close()
        return moto_answer

    def describe_services(self, request: Json, moto_answer: Json) -> Json:  # noqa: ARG002
        """moto's answer with what really runs laid over it."""
        with self._lock:
            found = [self._overlay(s) for s in moto_answer.get("services", [])]
        return {**moto_answer, "services": found}

    def list_tasks(self, request: Json) -> Json:
        """Task ARNs by cluster, service, desired status and startedBy."""
        with self._lock:
            return tasks_api.list_tasks(request, self._all_tasks(), self._cluster_of(request))

    def describe_tasks(self, request: Json) -> Json:
        """Tasks in DescribeTasks' shape (the stopped ones kept for a while)."""
        with self._lock:
            return tasks_api.describe_tasks(request, self._all_tasks(), self._region,
                                            self._account)

    def stop_task(self, request: Json) -> Json:
        """Stop one task (the scheduler then replaces it)."""
        arn = str(request.get("task", ""))
        with self._lock:
            if arn not in self._specs:
                raise EcsError("InvalidParameterException", f"The referenced task {arn} "
                                                            "was not found.")
            self._runtime.stop(arn, "UserInitiated", str(request.get("reason") or
                                                         "Task stopped by user"))
            state = self._runtime.poll(arn)
        return {"task": tasks_api.task(state, self._region, self._account)}

    def list_service_deployments(self, request: Json) -> Json:
        """The service's deployments, newest first."""
        with self._lock:
            record = self._record(request.get("cluster"), request.get("service"))
            return {"serviceDeployments": rollout.service_deployments(record)}

    def describe_service_deployments(self, request: Json) -> Json:
        """Service deployments by ARN; unknown ARNs are reported as failures."""
        found, failures = [], []
        with self._lock:
            for arn in request.get("serviceDeploymentArns", []):
                record = next((r for r in self._services.values()
                               if any(d.arn == arn for d in r.history)), None)
                if record is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(rollout.service_deployment(record, arn))
        return {"serviceDeployments": found, "failures": failures}

    # -- the loop -------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass: observe every task, decide, act, aim the listeners. A service whose
        pass fails is logged and tried again next time; the others go on."""
        with self._lock:
            for key, record in list(self._services.items()):
                try:
                    self._tick_service(key, record)
                except Exception:  # noqa: BLE001 - a bad pass must not end the plane
                    _log.exception("service %s/%s: this pass failed", *key)

    def _tick_service(self, key: Key, record: ServiceRecord) -> None:
        observed = {arn: self._runtime.poll(arn) for arn in record.tasks if arn in self._specs}
        for arn, state in observed.items():
            if state.last_status == "STOPPED":
                self._keep_stopped(arn, state)
        actions = rollout.step(record, observed, self._clock(), self._timing,
                               self._new_task_arn(record))
        for action in actions:
            self._act(record, action)
        self._aim(key, record)

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.wait(self._timing.poll_seconds):
            self.tick()

    def reset(self) -> None:
        """moto was reset (``/moto-api/reset``): stop every task and forget every service
        (the listeners' ports stay kept for the services' names)."""
        with self._lock:
            for record in self._services.values():
                for arn in record.tasks:
                    if arn in self._specs:
                        self._runtime.stop(arn, "ServiceSchedulerInitiated",
                                           "The local cloud was reset")
            self._services.clear()
            self._stopped.clear()
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            listener.close()

    def close(self) -> None:
        """Close the listeners and stop every task."""
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            listener.close()
        self._runtime.close()

    def adopt_existing(self, services: list[Json]) -> None:
        """Run the services moto already holds (after a restart of the plane)."""
        with self._lock:
            for service in services:
                if service.get("status") == "ACTIVE":
                    self._adopt(service, service.get("deploymentConfiguration"))

    # -- inside ---------------------------------------------------------------------------

    def _adopt(self, service: Json, configuration: Json | None) -> ServiceRecord:
        key = self._key(service)
        record = rollout.create(
            key[0], key[1], str(service.get("serviceArn", "")),
            task_definition=str(service.get("taskDefinition", "")),
            desired_count=int(service.get("desiredCount") or 0), now=self._clock(),
            config=_config(configuration, DeploymentConfig()))
        record.threshold = self._timing.failed_task_threshold
        self._services[key] = record
        return record

    def _key(self, service: Json) -> Key:
        cluster = str(service.get("clusterArn", "")).rsplit("/", 1)[-1] or "default"
        return cluster, str(service.get("serviceName", ""))

    def _record(self, cluster: Any, service: Any) -> ServiceRecord:
        name = str(service or "").rsplit("/", 1)[-1]
        key = (str(cluster or "default").rsplit("/", 1)[-1], name)
        record = self._services.get(key)
        if record is None:
            raise EcsError("ServiceNotFoundException", f"Service {name} not found.")
        return record

    def _cluster_of(self, request: Json) -> str:
        return str(request.get("cluster") or "default").rsplit("/", 1)[-1]

    def _overlay(self, service: Json) -> Json:
        record = self._services.get(self._key(service))
        return {**service, **rollout.describe(record)} if record else service

    def _new_task_arn(self, record: ServiceRecord) -> Callable[[], str]:
        prefix = f"arn:aws:ecs:{self._region}:{self._account}:task/{record.cluster}/"
        return lambda: prefix + uuid.uuid4().hex

    def _act(self, record: ServiceRecord, action: StartTask | StopTask) -> None:
        if isinstance(action, StopTask):
            if action.task_arn in self._specs:
                self._runtime.stop(action.task_arn, action.code, action.reason)
            return
        body = self._task_definition(action.task_definition)
        spec = TaskSpec(action.task_arn, record.cluster, record.name, action.deployment_id,
                        body, self._host_ports(record, body))
        self._specs[action.task_arn] = spec
        self._runtime.start(spec)

    def _host_ports(self, record: ServiceRecord, body: Mapping[str, Any]) -> dict[str, int]:
        """Container -> its service listener's port, for the first port mapping."""
        for container in body.get("containerDefinitions", []):
            for mapping in container.get("portMappings") or []:
                if isinstance(mapping.get("containerPort"), int):
                    listener = self._listener((record.cluster, record.name),
                                              mapping["containerPort"])
                    return {str(container.get("name")): listener.port}
        return {}

    def _listener(self, key: Key, container_port: int) -> ServiceListener:
        listener = self._listeners.get(key)
        if listener is not None and listener.container_port == container_port:
            return listener
        if listener is not None:
            listener.close()
        name = "/".join(key)
        listener = ServiceListener(self._ports.get(name, 0), container_port)
        self._listeners[key] = listener
        if self._ports.get(name) != listener.port:
            self._ports[name] = listener.port
            self._write_ports()
        return listener

    def _aim(self, key: Key, record: ServiceRecord) -> None:
        """The listener's targets: the healthy tasks of the newest deployment having any."""
        listener = self._listeners.get(key)
        if listener is None:
            return
        by_deployment: dict[str, list[int]] = {}
        for deployment_id, state in record.tasks.values():
            if state is not None and state.netns_pid and rollout.is_healthy(state):
                by_deployment.setdefault(deployment_id, []).append(state.netns_pid)
        for live in record.deployments:  # PRIMARY first
            if by_deployment.get(live.id):
                listener.set_targets(by_deployment[live.id])
                return
        listener.set_targets([])

    def _keep_stopped(self, arn: str, state: TaskState) -> None:
        self._stopped[arn] = state
        while len(self._stopped) > KEPT_STOPPED:
            self._stopped.pop(next(iter(self._stopped)))

    def _all_tasks(self) -> dict[str, TaskState]:
        live = {arn: state for record in self._services.values()
                for arn, (_, state) in record.tasks.items() if state is not None}
        return {**self._stopped, **live}

    def _read_ports(self) -> dict[str, int]:
        try:
            data = json.loads(self._ports_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(
            data, dict) else {}

    def _write_ports(self) -> None:
        self._ports_file.write_text(json.dumps(self._ports, indent=1), encoding="utf-8")


def _config(raw: Json | None, base: DeploymentConfig) -> DeploymentConfig:
    """DeploymentConfiguration from a request, over ``base``."""
    if not raw:
        return base
    breaker = raw.get("deploymentCircuitBreaker") or {}
    return DeploymentConfig(
        minimum_healthy_percent=int(raw.get("minimumHealthyPercent",
                                            base.minimum_healthy_percent)),
        maximum_percent=int(raw.get("maximumPercent", base.maximum_percent)),
        circuit_breaker=bool(breaker.get("enable", base.circuit_breaker)),
        rollback=bool(breaker.get("rollback", base.rollback)))
