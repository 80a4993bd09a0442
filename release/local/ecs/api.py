"""The ECS front: one HTTP server on 127.0.0.1 that every AWS call of a release goes to.

It forwards everything to moto unchanged (``proxy``), except the ECS operations the control
plane owns, which it answers through a ``Handler``:

- CreateService, UpdateService, DeleteService, DescribeServices go to moto first (moto keeps
  the service's definition, ARN and tags); a moto error is relayed unchanged, otherwise the
  handler gets the request and moto's answer and returns the answer to send (DescribeServices:
  moto's answer with counts, deployments, events and taskDefinition from what really runs).
- ListTasks, DescribeTasks, StopTask, ListServiceDeployments, DescribeServiceDeployments,
  RunTask, StopServiceDeployment and ContinueServiceDeployment are answered by the handler
  alone.

A handler raises ``EcsError`` for an ECS error; the front sends it as awsJson1_1 does
(``{"__type": code, "message": ...}``, which botocore's JSON parser reads into
``client.exceptions.<code>``).
"""

from __future__ import annotations

import datetime
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from release.local.ecs import proxy
from release.local.ecs.shapes import check_shape

__all__ = ["EcsError", "EcsFront", "Handler", "Route", "check_shape"]

_log = logging.getLogger(__name__)

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
JSON_TYPE = "application/x-amz-json-1.1"
Json = dict[str, Any]
# the owned operations whose request goes to moto first, and those the handler answers alone
AFTER_MOTO = ("CreateService", "UpdateService", "DeleteService", "DescribeServices")
HANDLER_ONLY = ("ListTasks", "DescribeTasks", "StopTask", "ListServiceDeployments",
                "DescribeServiceDeployments", "RunTask", "StopServiceDeployment",
                "ContinueServiceDeployment")


class EcsError(Exception):
    """An ECS error answer: ``code`` is its ``__type`` (e.g. ServiceNotFoundException)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Handler(Protocol):
    """What the control plane answers. Requests and answers are ECS's JSON, parsed."""

    def create_service(self, request: Json, moto_answer: Json) -> Json:
        """CreateService: moto created it (``moto_answer``); start deploying it."""

    def update_service(self, request: Json, moto_answer: Json) -> Json:
        """UpdateService: moto updated it; start a new deployment or rescale."""

    def delete_service(self, request: Json, moto_answer: Json) -> Json:
        """DeleteService: moto deleted it; drain and stop its tasks."""

    def describe_services(self, request: Json, moto_answer: Json) -> Json:
        """DescribeServices: moto's answer overlaid with counts, deployments, events and
        taskDefinition from what really runs."""

    def list_tasks(self, request: Json) -> Json:
        """ListTasks."""

    def describe_tasks(self, request: Json) -> Json:
        """DescribeTasks."""

    def stop_task(self, request: Json) -> Json:
        """StopTask."""

    def list_service_deployments(self, request: Json) -> Json:
        """ListServiceDeployments."""

    def describe_service_deployments(self, request: Json) -> Json:
        """DescribeServiceDeployments."""

    def run_task(self, request: Json) -> Json:
        """RunTask: one-off tasks (migrations) run as containers."""

    def stop_service_deployment(self, request: Json) -> Json:
        """StopServiceDeployment (stopType ROLLBACK or ABORT)."""

    def continue_service_deployment(self, request: Json) -> Json:
        """ContinueServiceDeployment: a hook awaiting action goes on or rolls back."""


def _operations(handler: Handler) -> dict[str, Callable[[Json, Json], Json]]:
    """Operation name -> the handler's answer given (request, moto's answer or {})."""
    return {
        "CreateService": handler.create_service,
        "UpdateService": handler.update_service,
        "DeleteService": handler.delete_service,
        "DescribeServices": handler.describe_services,
        "ListTasks": lambda request, _: handler.list_tasks(request),
        "DescribeTasks": lambda request, _: handler.describe_tasks(request),
        "StopTask": lambda request, _: handler.stop_task(request),
        "ListServiceDeployments": lambda request, _: handler.list_service_deployments(request),
        "DescribeServiceDeployments":
            lambda request, _: handler.describe_service_deployments(request),
        "RunTask": lambda request, _: handler.run_task(request),
        "StopServiceDeployment": lambda request, _: handler.stop_service_deployment(request),
        "ContinueServiceDeployment":
            lambda request, _: handler.continue_service_deployment(request),
    }


def _json_default(value: object) -> object:
    """Timestamps as ECS sends them: seconds since the epoch."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_reply(status: int, answer: Json) -> proxy.Reply:
    """An awsJson1_1 answer."""
    body = json.dumps(answer, default=_json_default).encode()
    return proxy.Reply(status, [
        ("Content-Type", JSON_TYPE),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("Content-Length", str(len(body))),
    ], body)


def error_reply(error: EcsError) -> proxy.Reply:
    """An awsJson1_1 error: botocore reads ``__type`` as the code, ``message`` as the text."""
    reply = json_reply(error.status, {"__type": error.code, "message": error.message})
    return proxy.Reply(reply.status, [*reply.headers, ("x-amzn-ErrorType", error.code)],
                       reply.body)


def _parse(body: bytes) -> Json:
    """The JSON request (an empty body is ``{}``)."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        raise EcsError("SerializationException", "the request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise EcsError("SerializationException", "the request body is not a JSON object")
    return parsed


class Route(Protocol):
    """Another part of the local cloud in front of moto (the Lambda runtime): it answers
    the requests it owns, None for the others; ``reset`` when moto is reset."""

    def answer(self, method: str, path: str, headers: list[tuple[str, str]],
               body: bytes) -> proxy.Reply | None:
        """Its answer, or None: moto answers."""

    def reset(self) -> None:
        """moto forgot everything."""


class EcsFront:
    """The front server: ``start()``, then AWS clients use ``http://127.0.0.1:{port}``."""

    def __init__(self, host_port: int, moto_url: str, handler: Handler, *,
                 timeout: float = 60.0, max_body: int = proxy.MAX_BODY,
                 routes: tuple[Route, ...] = ()) -> None:
        parts = urlsplit(moto_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"moto_url must be http://host:port, not {moto_url!r}")
        self.upstream = (parts.hostname, parts.port)
        self.requested_port = host_port
        self.timeout = timeout
        self.max_body = max_body
        self._operations = _operations(handler)
        self._routes = routes
        self._on_reset: Callable[[], None] | None = getattr(handler, "reset", None)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    @property
    def port(self) -> int:
        """The port it listens on (``host_port``, or the one chosen for 0)."""
        if self._server is None:
            raise RuntimeError("the ECS front is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:{port}``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Bind 127.0.0.1 and serve from a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", self.requested_port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.05}, name=f"ecs-front-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and end every open client connection (returns within a second)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            proxy.shut(sock)
        if self._thread is not None:
            self._thread.join(1.0)

    def track(self, sock: socket.socket, is_open: bool) -> None:
        """Remember the client connections so ``close()`` can end them."""
        with self._lock:
            if is_open:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def answer(self, method: str, path: str, headers: list[tuple[str, str]],
               body: bytes) -> proxy.Reply:
        """The reply to one request: the handler's for an owned ECS operation, else moto's."""
        target = next((value for name, value in headers if name.lower() == "x-amz-target"), "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        if method != "POST" or operation not in self._operations:
            for route in self._routes if not operation else ():
                routed = route.answer(method, path, headers, body)
                if routed is not None:
                    return routed
            reply = self._forward(method, path, headers, body)
            if method == "POST" and path.split("?", 1)[0] == "/moto-api/reset" and (
                    reply.status < 300):
                if self._on_reset is not None:
                    self._on_reset()  # moto forgot every service: so do the tasks
                for route in self._routes:
                    route.reset()
            return reply
        try:
            return self._owned(operation, path, headers, body)
        except EcsError as error:
            return error_reply(error)
        except Exception as error:  # noqa: BLE001 - the client gets ECS's ServerException
            _log.exception("the ECS control plane failed on %s", operation)
            return error_reply(EcsError("ServerException", f"{operation}: {error}", 500))

    def _owned(self, operation: str, path: str, headers: list[tuple[str, str]],
               body: bytes) -> proxy.Reply:
        """An owned operation: moto first where it keeps the service, then the handler."""
        request = _parse(body)
        moto_answer: Json = {}
        if operation in AFTER_MOTO:
            reply = self._forward("POST", path, headers, body)
            if reply.status >= 300:
                return reply  # moto's error, unchanged
            try:
                moto_answer = _parse(reply.body)
            except EcsError:
                return reply  # not JSON: nothing to overlay
        return json_reply(200, self._operations[operation](request, moto_answer))

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]],
                 body: bytes) -> proxy.Reply:
        """The request, sent to moto unchanged."""
        return proxy.forward(self.upstream, method, path, headers, body,
                             timeout=self.timeout, limit=self.max_body)


def _make_handler(front: EcsFront) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``front``."""

    class _Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints do
        timeout = 30.0  # an idle connection's thread ends after this
        server_version = "release-local-ecs"

        def setup(self) -> None:
            super().setup()
            front.track(self.connection, True)

        def finish(self) -> None:
            front.track(self.connection, False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            _log.debug("%s " + format, self.address_string(), *args)

        def _serve(self) -> None:
            headers = list(self.headers.items())
            try:
                body = proxy.read_body(self.rfile, headers, front.max_body)
            except proxy.BodyError as error:
                self.close_connection = True
                self._send(proxy.Reply(error.status, [("Content-Length", "0")]))
                return
            self._send(front.answer(self.command, self.path, headers, body))

        def _send(self, reply: proxy.Reply) -> None:
            self.send_response_only(reply.status, reply.reason or None)
            for name, value in reply.headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name, _ in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD" and reply.body:
                self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve  # noqa: N815

    return _Front
