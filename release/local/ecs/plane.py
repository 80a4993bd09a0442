"""The control plane: the ECS API front's ``Handler``, and the loop that runs services.

Every ``timing.poll_seconds`` it polls each service's tasks, lets the rollout logic decide
(``rollout.step``), starts and stops tasks through the runtime, and points each service's
listener at the healthy tasks of its newest deployment that has any (so a rollout moves
the URL only once the new tasks are healthy). Services moto already holds when the plane
starts (a restart) are adopted and run again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from release.local.ecs import (
    deployment_config,
    one_off,
    progressive,
    progressive_control,
    rollout,
    service_deployments,
    tasks_api,
)
from release.local.ecs.api import EcsError, Json
from release.local.ecs.model import (
    Action,
    DeploymentConfig,
    InvokeHook,
    ServiceRecord,
    StopTask,
    TaskSpec,
    TaskState,
    Timing,
)
from release.local.ecs.traffic import Listeners

Key = tuple[str, str]  # (cluster name, service name)
KEPT_STOPPED = 200  # stopped tasks kept for DescribeTasks, newest last
_log = logging.getLogger(__name__)


def _no_alarms(_names: Sequence[str]) -> set[str]:
    return set()


def _no_lambda(arn: str, _payload: Mapping[str, Any]) -> Any:
    return f"no Lambda endpoint to invoke {arn} with"


class Plane:
    """Services as ECS runs them, on a runtime; answers the ECS operations it owns.

    ``alarms(names)`` gives the names of those CloudWatch alarms now in ALARM; ``invoke(arn,
    payload)`` invokes a lifecycle hook's Lambda function and gives its decoded answer (or a
    string saying why it could not)."""

    def __init__(self, runtime: Any, task_definition: Callable[[str], Mapping[str, Any]], *,
                 region: str, account_id: str, timing: Timing, ports_file: Path,
                 clock: Callable[[], float] = time.time,
                 alarms: Callable[[Sequence[str]], set[str]] = _no_alarms,
                 invoke: Callable[[str, Mapping[str, Any]], Any] = _no_lambda) -> None:
        self._runtime = runtime
        self._task_definition = task_definition  # ARN -> DescribeTaskDefinition's body
        self._region, self._account = region, account_id
        self._timing, self._clock = timing, clock
        self._alarms, self._invoke = alarms, invoke
        self._lock = threading.RLock()
        self._services: dict[Key, ServiceRecord] = {}
        self._specs: dict[str, TaskSpec] = {}
        self._stopped: dict[str, TaskState] = {}
        self._one_off: dict[str, TaskState | None] = {}  # RunTask's tasks until they stop
        self._listeners = Listeners(ports_file)
        self._hooks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ecs-hook")

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
            before = record.primary
            rollout.update(record, now=self._clock(),
                           task_definition=service.get("taskDefinition")
                           if "taskDefinition" in request else None,
                           desired_count=request.get("desiredCount"),
                           force_new_deployment=bool(request.get("forceNewDeployment")),
                           config=config)
            if record.primary is not before and config.strategy != "ROLLING":
                progressive.begin(record, self._clock())
            return {**moto_answer, "service": self._overlay(service)}

    def delete_service(self, request: Json, moto_answer: Json) -> Json:  # noqa: ARG002
        """Stop the service's tasks and forget it."""
        service = moto_answer.get("service") or {}
        with self._lock:
            record = self._services.pop(self._key(service), None)
            for arn in list(record.tasks) if record else []:
                self._runtime.stop(arn, "ServiceSchedulerInitiated", "Service was deleted")
            self._listeners.close(self._key(service))
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
                                            self._account, bound=self._test_bound())

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
        """The service's deployments, newest first (of the asked statuses)."""
        with self._lock:
            record = self._record(request.get("cluster"), request.get("service"))
            found = service_deployments.service_deployments(record)
        wanted = request.get("status") or []
        return {"serviceDeployments": [d for d in found if not wanted or d["status"] in wanted]}

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
                    found.append(service_deployments.service_deployment(record, arn))
        return {"serviceDeployments": found, "failures": failures}

    def run_task(self, request: Json) -> Json:
        """RunTask: one-off tasks from a task definition with container overrides."""
        cluster = self._cluster_of(request)
        try:
            body = self._task_definition(str(request.get("taskDefinition", "")))
        except Exception:  # noqa: BLE001 - moto's ClientException: no such revision
            raise EcsError("ClientException", "Unable to describe task definition "
                           f"{request.get('taskDefinition')}.") from None
        prefix = f"arn:aws:ecs:{self._region}:{self._account}:task/{cluster}/"
        started = []
        with self._lock:
            try:
                specs = [one_off.spec(request, body, task_arn=prefix + uuid.uuid4().hex,
                                      cluster=cluster) for _ in range(one_off.count(request))]
            except one_off.RunTaskError as error:
                raise EcsError("InvalidParameterException", str(error)) from None
            for spec in specs:
                self._specs[spec.task_arn] = spec
                self._runtime.start(spec)
                state = self._runtime.poll(spec.task_arn)
                self._one_off[spec.task_arn] = state
                started.append(tasks_api.task(state, self._region, self._account))
        return {"tasks": started, "failures": []}

    def stop_service_deployment(self, request: Json) -> Json:
        """StopServiceDeployment (ROLLBACK, or ABORT) of a progressive deployment."""
        arn = str(request.get("serviceDeploymentArn", ""))
        with self._lock:
            record = self._owner(arn)
            try:
                progressive_control.stop(record, arn, str(request.get("stopType") or
                                                          "ROLLBACK"))
            except progressive_control.ControlError as error:
                raise EcsError(error.code, str(error)) from None
        return {"serviceDeploymentArn": arn}

    def continue_service_deployment(self, request: Json) -> Json:
        """ContinueServiceDeployment: resolve a lifecycle hook awaiting action."""
        arn = str(request.get("serviceDeploymentArn", ""))
        with self._lock:
            record = self._owner(arn)
            try:
                progressive_control.continue_(record, arn, str(request.get("hookId", "")),
                                              str(request.get("action") or "CONTINUE"))
            except progressive_control.ControlError as error:
                raise EcsError(error.code, str(error)) from None
        return {"serviceDeploymentArn": arn}

    # -- the loop -------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass: observe every task, decide, act, aim the listeners. A service whose
        pass fails is logged and tried again next time; the others go on."""
        with self._lock:
            self._tick_one_off()
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
        if progressive.active(record):
            watched = progressive.watched_alarms(record)
            actions = progressive.step(record, observed, self._clock(), self._timing,
                                       new_task_arn=self._new_task_arn(record),
                                       firing=self._alarms(watched) if watched else set())
        else:
            watched = rollout.watched_alarms(record)
            actions = rollout.step(record, observed, self._clock(), self._timing,
                                   self._new_task_arn(record),
                                   firing=self._alarms(watched) if watched else ())
        for action in actions:
            self._act(record, action)
        self._listeners.aim(key, record)

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
            self._listeners.close()

    def close(self) -> None:
        """Close the listeners and stop every task."""
        with self._lock:
            self._listeners.close()
        self._hooks.shutdown(wait=False, cancel_futures=True)
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

    def _act(self, record: ServiceRecord, action: Action) -> None:
        if isinstance(action, StopTask):
            if action.task_arn in self._specs:
                self._runtime.stop(action.task_arn, action.code, action.reason)
            return
        if isinstance(action, InvokeHook):
            self._hooks.submit(self._run_hook, (record.cluster, record.name), action)
            return
        body = self._task_definition(action.task_definition)
        spec = TaskSpec(action.task_arn, record.cluster, record.name, action.deployment_id,
                        body, self._listeners.host_ports((record.cluster, record.name), body))
        self._specs[action.task_arn] = spec
        self._runtime.start(spec)

    def _run_hook(self, key: Key, action: InvokeHook) -> None:
        """Invoke a hook's function (off the lock: it may take a while), then record it."""
        try:
            answer = self._invoke(action.function_arn, action.payload)
        except Exception as error:  # noqa: BLE001 - a failed invoke fails the hook
            answer = f"the invoke failed: {error}"
        with self._lock:
            record = self._services.get(key)
            if record is not None:
                progressive_control.hook_answered(
                    record, (action.deployment_id, action.hook_id), answer,
                    now=self._clock(), timing=self._timing)

    def _test_bound(self) -> dict[str, int]:
        """Task -> the test listener port, for the new revision's tasks of a progressive
        deployment under way (DescribeTasks reports them bound there: the release's smoke
        check finds the test URL this way)."""
        out: dict[str, int] = {}
        for key, record in self._services.items():
            port = self._listeners.test_port(key)
            if port and progressive.active(record):
                out.update({arn: port for arn, (dep, _) in record.tasks.items()
                            if dep == record.primary.id})
        return out

    def _owner(self, deployment_arn: str) -> ServiceRecord:
        found = next((r for r in self._services.values()
                      if any(d.arn == deployment_arn for d in r.history)), None)
        if found is None:
            raise EcsError("ServiceDeploymentNotFoundException",
                           f"Service deployment {deployment_arn} was not found.")
        return found

    def _tick_one_off(self) -> None:
        """Poll RunTask's tasks; a stopped one is kept for DescribeTasks."""
        for arn in list(self._one_off):
            state = self._runtime.poll(arn)
            self._one_off[arn] = state
            if state.last_status == "STOPPED":
                self._keep_stopped(arn, state)
                del self._one_off[arn]

    def _keep_stopped(self, arn: str, state: TaskState) -> None:
        self._stopped[arn] = state
        while len(self._stopped) > KEPT_STOPPED:
            self._stopped.pop(next(iter(self._stopped)))

    def _all_tasks(self) -> dict[str, TaskState]:
        live = {arn: state for record in self._services.values()
                for arn, (_, state) in record.tasks.items() if state is not None}
        live.update({arn: state for arn, state in self._one_off.items() if state is not None})
        return {**self._stopped, **live}


def _config(raw: Json | None, base: DeploymentConfig) -> DeploymentConfig:
    """DeploymentConfiguration from a request, over ``base``."""
    try:
        return deployment_config.from_request(raw, base)
    except (ValueError, TypeError) as error:
        raise EcsError("InvalidParameterException", str(error)) from None
