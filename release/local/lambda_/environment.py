"""One execution environment of a function version on the local Docker engine.

A pause container (busybox ``sleep``, ``--network none``) owns a network namespace with only
a loopback. The Runtime API's listening socket is made INSIDE that namespace (the ECS
listener's ``Netns``: setns on one thread, socket, setns back) and bound to 127.0.0.1:9001,
while this process serves it; the function's container joins the namespace
(``--network container:<pause>``) with ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001``. Nothing
is published, no bridge is used, and the function reaches nothing but its Runtime API.

An invocation is bounded by the function's Timeout: past it the environment is broken
(Lambda then discards it) and the caller stops it. The container's output goes to
CloudWatch Logs, ``<log group>/YYYY/MM/DD/[version]<id>``, with Lambda's START, END and
REPORT lines around each invocation's.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from release.errors import ReleaseError
from release.local.base_images import BUSYBOX_IMAGE
from release.local.ecs.containers import PLANE_LABEL, inspected
from release.local.ecs.launching import RegistryAuth, StartFailedError, create, pull, remove
from release.local.ecs.listener import Netns
from release.local.lambda_.function import FunctionConfig
from release.local.lambda_.runtime_api import Invocation, Outcome, RuntimeApi, error_document

LAMBDA_LABEL = "dev.release.local.lambda"  # function ARN:version of the environment
RUNTIME_HOST, RUNTIME_PORT = "127.0.0.1", 9001
CHECK_EVERY = 0.5  # seconds between looks at whether the function's container still runs
PutLogs = Callable[[str, str, Sequence[str]], None]


class StartError(Exception):
    """The environment could not start (its image cannot be pulled, the engine refused)."""


@dataclass(frozen=True)
class Engine:
    """The world an environment runs in."""

    docker_host: str
    plane: str  # PLANE_LABEL's value: `release local down` removes what carries it
    netns: Callable[[], Netns]  # made at the first environment (it needs root)
    registry_auth: RegistryAuth
    put_logs: PutLogs
    region: str
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Ended:
    """An invocation's outcome and its log lines (START ... REPORT)."""

    outcome: Outcome
    log: tuple[str, ...]


def function_environment(config: FunctionConfig, region: str, stream: str) -> list[str]:
    """``NAME=value`` for the function's container: its variables, then Lambda's reserved
    ones (a function cannot override those)."""
    values = dict(config.environment)
    values.update({
        "AWS_LAMBDA_RUNTIME_API": f"{RUNTIME_HOST}:{RUNTIME_PORT}",
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_Image",
        "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime", "TZ": ":UTC",
    })
    return [f"{name}={value}" for name, value in values.items()]


def container_args(config: FunctionConfig, *, pause_id: str, plane: str, stream: str,
                   region: str) -> dict[str, Any]:
    """``create_container`` arguments for the function (ImageConfig's overrides applied)."""
    args: dict[str, Any] = {
        "image": config.image,
        "labels": {PLANE_LABEL: plane, LAMBDA_LABEL: f"{config.arn}:{config.version}"},
        "environment": function_environment(config, region, stream),
        "host_config": {"network_mode": f"container:{pause_id}"},
    }
    if config.entry_point:
        args["entrypoint"] = list(config.entry_point)
    if config.command:
        args["command"] = list(config.command)
    if config.working_directory:
        args["working_dir"] = config.working_directory
    return args


def pause_args(config: FunctionConfig, plane: str) -> dict[str, Any]:
    """``create_container`` arguments for the pause container that owns the namespace."""
    return {"image": BUSYBOX_IMAGE, "command": ["sleep", "999999999"],
            "labels": {PLANE_LABEL: plane, LAMBDA_LABEL: f"{config.arn}:{config.version}"},
            "host_config": {"network_mode": "none"}}


def timed_out(request_id: str, seconds: int) -> Outcome:
    """Lambda's answer for an invocation past the function's Timeout."""
    return Outcome("error", error_document(
        "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after "
                            f"{seconds:.2f} seconds"), "Sandbox.Timedout")


def exited(request_id: str, code: int | None) -> Outcome:
    """Lambda's answer when the runtime's process ended during an invocation."""
    return Outcome("error", error_document(
        "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: "
                             f"exit status {code if code is not None else 'unknown'}"),
                   "Runtime.ExitError")


def report(config: FunctionConfig, request_id: str, millis: float, status: str) -> str:
    """Lambda's REPORT line."""
    line = (f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms\t"
            f"Billed Duration: {max(1, int(millis + 0.999))} ms\t"
            f"Memory Size: {config.memory} MB")
    return f"{line}\tStatus: {status}" if status else line


class Environment:
    """A started function container with its Runtime API; one invocation at a time."""

    def __init__(self, config: FunctionConfig, engine: Engine) -> None:
        import docker

        self.config = config
        self._engine = engine
        self._api = docker.APIClient(base_url=engine.docker_host, timeout=60)
        day = time.strftime("%Y/%m/%d", time.gmtime(engine.clock()))
        self.stream = f"{day}/[{config.version}]{uuid.uuid4().hex}"
        self._ids: list[str] = []  # pause first, then the function's container
        self._server: RuntimeApi | None = None
        self._shipped = 0  # output lines already sent to CloudWatch Logs
        self.broken = False  # timed out or exited: to be stopped, never reused
        self.last_used = engine.clock()

    def start(self) -> None:
        """Pull, make the namespace, serve the Runtime API in it, start the function.
        Raises StartError (the environment is then stopped)."""
        import docker.errors

        try:
            pull(self._api, self.config.image, self.config.name, self._engine.registry_auth)
            pause = create(self._api, pause_args(self.config, self._engine.plane))
            self._ids.append(pause)
            self._api.start(pause)
            pid = inspected(self._api.inspect_container(pause)).pid
            if pid is None:
                raise StartError("the pause container did not start")
            self._server = RuntimeApi(self._listen(pid))
            self._server.start()
            function = create(self._api, container_args(
                self.config, pause_id=pause, plane=self._engine.plane, stream=self.stream,
                region=self._engine.region))
            self._ids.append(function)
            self._api.start(function)
        except StartFailedError as exc:
            self.stop()
            raise StartError(exc.reason) from None
        except (docker.errors.APIError, OSError, RuntimeError, ReleaseError) as exc:
            self.stop()
            raise StartError(f"cannot start the function's container: {exc}") from None

    def _listen(self, pid: int) -> socket.socket:
        """The Runtime API's listening socket, in the namespace of ``pid``."""
        sock = self._engine.netns().socket_in(pid)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((RUNTIME_HOST, RUNTIME_PORT))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        return sock

    def invoke(self, invocation: Invocation) -> Ended:
        """Run one invocation to its end, its timeout, or the runtime's exit."""
        assert self._server is not None  # noqa: S101 - start() succeeded
        began = time.monotonic()  # the deadline counts from now, not from before a cold start
        deadline_ms = int((self._engine.clock() + self.config.timeout) * 1000)
        invocation = replace(invocation, deadline_ms=deadline_ms)
        self._server.submit(invocation)
        outcome = self._wait(invocation.request_id, began + self.config.timeout)
        millis = (time.monotonic() - began) * 1000
        status = {"Sandbox.Timedout": "timeout", "Runtime.ExitError": "error"}.get(
            outcome.error_type, "") if outcome.kind != "response" else ""
        lines = [f"START RequestId: {invocation.request_id} Version: {self.config.version}",
                 *self._new_output(),
                 f"END RequestId: {invocation.request_id}",
                 report(self.config, invocation.request_id, millis, status)]
        if outcome.error_type == "Sandbox.Timedout":
            lines.insert(-2, f"{invocation.request_id} Task timed out after "
                             f"{self.config.timeout:.2f} seconds")
        self._ship(lines)
        self.last_used = self._engine.clock()
        return Ended(outcome, tuple(lines))

    def _wait(self, request_id: str, deadline: float) -> Outcome:
        """The outcome, or Lambda's timeout / exit error (the environment is then broken)."""
        assert self._server is not None  # noqa: S101
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.broken = True
                return timed_out(request_id, self.config.timeout)
            outcome = self._server.outcome(request_id, min(left, CHECK_EVERY))
            if outcome is not None:
                self.broken = outcome.kind == "init_error"
                return outcome
            gone, code = self._exited()
            if gone:
                self.broken = True
                return exited(request_id, code)

    def _exited(self) -> tuple[bool, int | None]:
        """Whether the function's container has ended, and its exit code (None: unknown)."""
        import docker.errors

        try:
            seen = inspected(self._api.inspect_container(self._ids[-1]))
        except docker.errors.NotFound:
            return True, None
        return seen.status in ("exited", "dead"), seen.exit_code

    def _new_output(self) -> list[str]:
        """The function's output lines not read before."""
        import docker.errors

        try:
            raw = self._api.logs(self._ids[-1], stdout=True, stderr=True)
        except docker.errors.APIError:
            return []
        lines: list[str] = raw.decode("utf-8", "replace").splitlines()
        new, self._shipped = lines[self._shipped:], len(lines)
        return new

    def _ship(self, lines: Sequence[str]) -> None:
        """Send ``lines`` to the function's log group (a failing sink is not the caller's)."""
        with contextlib.suppress(Exception):
            self._engine.put_logs(self.config.log_group, self.stream, lines)

    def stop(self) -> None:
        """Close the Runtime API and remove the containers (by force)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for runtime_id in reversed(self._ids):
            with contextlib.suppress(Exception):
                remove(self._api, runtime_id)
        self._ids.clear()
        self._api.close()
