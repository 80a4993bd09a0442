"""The Lambda Runtime API (version 2018-06-01) for one execution environment.

A function's bootstrap loops: ``GET /2018-06-01/runtime/invocation/next`` (blocks until an
invocation comes; its headers carry the request id, the deadline and the invoked ARN), then
``POST .../invocation/{id}/response`` with the result or ``POST .../invocation/{id}/error``
with an error document; ``POST /2018-06-01/runtime/init/error`` reports a runtime that
cannot start. Answers as Lambda's: 202 ``{"status":"OK"}``; 400 ``InvalidRequestID`` for an
id that is not the current invocation; 413 for a response over 6 MB (the invocation then
fails with ``Function.ResponseSizeTooLarge``).

The server is handed a listening socket (the environment binds it inside the function's
network namespace), so it is tested on a host socket without Docker. One invocation at a
time: :meth:`RuntimeApi.submit` hands one over, :meth:`RuntimeApi.outcome` waits for its end.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from release.local.ecs import proxy

MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response limit
TICK = 0.1  # seconds: how often waiting threads look at the stop flag
PREFIX = "/2018-06-01/runtime"
_INVOCATION = re.compile(rf"^{PREFIX}/invocation/(?P<id>[^/]+)/(?P<what>response|error)$")
_log = logging.getLogger(__name__)

Kind = Literal["response", "error", "init_error"]


@dataclass(frozen=True)
class Invocation:
    """One event for the function, with what ``/next`` tells the runtime about it."""

    request_id: str
    payload: bytes
    deadline_ms: int  # Unix time in milliseconds when the invocation times out
    function_arn: str  # the ARN it was invoked by (with its qualifier)
    client_context: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended: the runtime's response, its error, or its init error."""

    kind: Kind
    body: bytes
    error_type: str = ""  # Lambda-Runtime-Function-Error-Type, or ours


def error_document(error_type: str, message: str) -> bytes:
    """An error as Lambda reports it: ``{"errorMessage": ..., "errorType": ...}``."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeApi:
    """Serves the Runtime API on a listening socket; ``close()`` ends it within a second."""

    def __init__(self, listening: socket.socket, *, max_response: int = MAX_RESPONSE) -> None:
        self.max_response = max_response
        self._cond = threading.Condition()
        self._pending: Invocation | None = None  # submitted, not yet taken by /next
        self._current: Invocation | None = None  # taken by /next, not yet answered
        self._outcomes: dict[str, Outcome] = {}
        self._init_error: Outcome | None = None
        self._closed = False
        server = ThreadingHTTPServer(listening.getsockname()[:2], _make_handler(self),
                                     bind_and_activate=False)
        server.socket.close()
        server.socket = listening
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": TICK}, name="lambda-runtime-api", daemon=True)

    def start(self) -> None:
        """Serve from a daemon thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving; threads waiting in ``/next`` or ``outcome`` return."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)

    @property
    def init_error(self) -> Outcome | None:
        """The runtime's init error, once it posted one."""
        with self._cond:
            return self._init_error

    def submit(self, invocation: Invocation) -> None:
        """Hand ``invocation`` to the next ``/next``; one at a time."""
        with self._cond:
            if self._pending is not None or self._current is not None:
                raise RuntimeError("the environment is busy with another invocation")
            self._pending = invocation
            self._cond.notify_all()

    def outcome(self, request_id: str, timeout: float) -> Outcome | None:
        """Wait up to ``timeout`` seconds for the invocation's end (an init error ends it
        too); None when it has not ended. The invocation is forgotten once ended."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._outcomes.pop(request_id, None) or self._init_error
                if found is not None:
                    if self._current and self._current.request_id == request_id:
                        self._current = None
                    if self._pending and self._pending.request_id == request_id:
                        self._pending = None
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(min(left, TICK))

    # -- what the handler threads call ----------------------------------------------------

    def next_invocation(self) -> Invocation | None:
        """Block until an invocation is submitted (None once closed)."""
        with self._cond:
            while self._pending is None:
                if self._closed:
                    return None
                self._cond.wait(TICK)
            taken, self._pending = self._pending, None
            self._current = taken
            return taken

    def finish(self, request_id: str, outcome: Outcome) -> bool:
        """Record the current invocation's end; False when ``request_id`` is not it."""
        with self._cond:
            if self._current is None or self._current.request_id != request_id:
                return False
            self._outcomes[request_id] = outcome
            self._current = None
            self._cond.notify_all()
            return True

    def fail_init(self, outcome: Outcome) -> None:
        """The runtime cannot start: every waiting invocation ends with ``outcome``."""
        with self._cond:
            self._init_error = outcome
            self._cond.notify_all()


def _ok(status: int = 202) -> proxy.Reply:
    body = b'{"status":"OK"}'
    return proxy.Reply(status, [("Content-Type", "application/json")], body)


def _refuse(status: int, error_type: str, message: str) -> proxy.Reply:
    return proxy.Reply(status, [("Content-Type", "application/json")],
                       error_document(error_type, message))


def next_reply(invocation: Invocation) -> proxy.Reply:
    """``/next``'s answer: the event, and its context in the headers."""
    headers = [("Content-Type", "application/json"),
               ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
               ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
               ("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn),
               ("Lambda-Runtime-Trace-Id", f"Root=1-{invocation.request_id[:8]}-"
                                           f"{invocation.request_id.replace('-', '')[:24]}")]
    if invocation.client_context:
        headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
    return proxy.Reply(200, headers, invocation.payload)


def _error_outcome(body: bytes, error_type_header: str, kind: Kind) -> Outcome:
    """An error posted by the runtime: its JSON document as it is, else one made of it."""
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return Outcome(kind, body, error_type_header or str(parsed.get("errorType", "")))
    error_type = error_type_header or "Runtime.Unknown"
    return Outcome(kind, error_document(error_type, body.decode("utf-8", "replace")),
                   error_type)


def route(api: RuntimeApi, method: str, path: str, headers: list[tuple[str, str]],
          read: Any) -> proxy.Reply:
    """One Runtime API request's answer (``read(limit)`` reads the body)."""
    path = path.split("?", 1)[0]
    if method == "GET" and path == f"{PREFIX}/invocation/next":
        invocation = api.next_invocation()
        if invocation is None:
            return _refuse(410, "Runtime.Closed", "the execution environment is shutting down")
        return next_reply(invocation)
    fields = {name.lower(): value for name, value in headers}
    error_type = fields.get("lambda-runtime-function-error-type", "")
    if method == "POST" and path == f"{PREFIX}/init/error":
        api.fail_init(_error_outcome(read(api.max_response), error_type, "init_error"))
        return _ok()
    found = _INVOCATION.match(path)
    if method != "POST" or found is None:
        return _refuse(404, "NotFound", f"no such Runtime API resource: {method} {path}")
    request_id, what = found["id"], found["what"]
    try:
        body = read(api.max_response)
    except proxy.BodyError as exc:
        if exc.status != 413:
            return _refuse(400, "InvalidRequest", str(exc))
        api.finish(request_id, Outcome("error", error_document(
            "Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed "
            f"payload size ({api.max_response} bytes)."), "Function.ResponseSizeTooLarge"))
        return _refuse(413, "RequestEntityTooLarge", str(exc))
    outcome = (Outcome("response", body) if what == "response"
               else _error_outcome(body, error_type, "error"))
    if not api.finish(request_id, outcome):
        return _refuse(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
    return _ok()


def _make_handler(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``api``."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "release-local-lambda"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            _log.debug("runtime api: " + format, *args)

        def _serve(self) -> None:
            headers = list(self.headers.items())

            def read(limit: int) -> bytes:
                try:
                    return proxy.read_body(self.rfile, headers, limit)
                except proxy.BodyError:
                    self.close_connection = True  # the rest of the body is not read
                    raise

            reply = route(api, self.command, self.path, headers, read)
            self.send_response_only(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

    return _Handler
