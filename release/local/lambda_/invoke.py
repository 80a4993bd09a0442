"""The front's Lambda route: ``POST /2015-03-31/functions/{name}/invocations`` on an image
function runs its image; every other request, and Invoke on a zip function or on a function
moto does not know, goes to moto unchanged (``answer`` returns None).

Answers as Lambda's Invoke (botocore's ``Invoke`` output shape): 200 with the handler's
payload; a handler error, a timeout or an exiting runtime is 200 too, with
``X-Amz-Function-Error: Unhandled`` and the error document; ``X-Amz-Executed-Version``
names the version that ran (an alias with weights picks one by weighted draw);
``X-Amz-Log-Type: Tail`` adds ``X-Amz-Log-Result``, the base64 of the log's last 4 KB.
``InvocationType`` ``Event`` answers 202 and runs in the background; ``DryRun`` 204.
Errors of the request itself are REST-JSON errors (``x-amzn-ErrorType``).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from release.local.ecs.proxy import Reply
from release.local.lambda_ import function
from release.local.lambda_.environment import Ended, StartError
from release.local.lambda_.pool import Pool, ThrottledError
from release.local.lambda_.runtime_api import Invocation

_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
MAX_PAYLOAD = 6 * 1024 * 1024  # a synchronous request's payload limit
LOG_TAIL = 4096  # bytes of the log X-Amz-Log-Result carries
_log = logging.getLogger(__name__)


def error_reply(status: int, code: str, message: str) -> Reply:
    """A REST-JSON error as Lambda sends it (botocore reads the code from the header)."""
    body = json.dumps({"Type": "User" if status < 500 else "Service",
                       "message": message}).encode()
    return Reply(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code),
                          ("x-amzn-RequestId", str(uuid.uuid4()))], body)


def log_result(lines: tuple[str, ...]) -> str:
    """``X-Amz-Log-Result``: the base64 of the log's last 4 KB."""
    text = "".join(f"{line}\n" for line in lines).encode()
    return base64.b64encode(text[-LOG_TAIL:]).decode()


def invoke_reply(ended: Ended, request_id: str, version: str, tail: bool) -> Reply:
    """Invoke's 200 answer for a finished invocation."""
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
               ("X-Amz-Executed-Version", version)]
    if ended.outcome.kind != "response":
        headers.append(("X-Amz-Function-Error", "Unhandled"))
    if tail:
        headers.append(("X-Amz-Log-Result", log_result(ended.log)))
    return Reply(200, headers, ended.outcome.body)


class LambdaFront:
    """Answers Invoke on image functions from warm environments in ``pool``."""

    def __init__(self, lam: Any, pool: Pool, *, draw: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.time) -> None:
        self._lam = lam  # a botocore Lambda client on moto
        self._pool = pool
        self._draw, self._clock = draw, clock

    def answer(self, method: str, path: str, headers: list[tuple[str, str]],
               body: bytes) -> Reply | None:
        """Invoke's answer for an image function; None: moto answers."""
        parts = urlsplit(path)
        found = _PATH.match(parts.path)
        if method != "POST" or found is None:
            return None
        qualifier = next(iter(parse_qs(parts.query).get("Qualifier") or ()), None)
        wanted = function.target(found["name"], qualifier)
        try:
            config = function.resolve(self._lam, wanted, self._draw)
        except Exception as exc:  # noqa: BLE001 - moto answers with its own error shape
            _log.debug("Invoke of %s left to moto: %s", wanted.function, exc)
            return None
        if config is None:
            return None
        fields = {name.lower(): value for name, value in headers}
        return self._run(config, wanted, fields, body)

    def _run(self, config: function.FunctionConfig, wanted: function.Target,
             fields: dict[str, str], body: bytes) -> Reply:
        kind = fields.get("x-amz-invocation-type", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            return error_reply(400, "InvalidParameterValueException",
                               f"InvocationType {kind!r} is not RequestResponse, Event or "
                               "DryRun")
        if len(body) > MAX_PAYLOAD:
            return error_reply(413, "RequestTooLargeException",
                               f"Request must be smaller than {MAX_PAYLOAD} bytes for the "
                               "InvokeFunction operation")
        request_id = str(uuid.uuid4())
        if kind == "DryRun":
            return Reply(204, [("x-amzn-RequestId", request_id)])
        invoked_arn = f"{config.arn}:{wanted.qualifier}" if wanted.qualifier else config.arn
        invocation = Invocation(request_id, body or b"{}",
                                int((self._clock() + config.timeout) * 1000), invoked_arn,
                                _client_context(fields.get("x-amz-client-context")))
        if kind == "Event":
            threading.Thread(target=self._background, args=(config, invocation),
                             name=f"lambda-event-{request_id[:8]}", daemon=True).start()
            return Reply(202, [("x-amzn-RequestId", request_id)])
        try:
            ended = self._pool.invoke(config, invocation)
        except ThrottledError as exc:
            return error_reply(429, "TooManyRequestsException", f"Rate Exceeded. ({exc})")
        except StartError as exc:
            return error_reply(500, "ServiceException",
                               f"the function's execution environment did not start: {exc}")
        except Exception as exc:  # noqa: BLE001 - the caller gets Lambda's ServiceException
            _log.exception("Invoke of %s failed", config.name)
            return error_reply(500, "ServiceException", f"the local Lambda runtime failed: {exc}")
        assert isinstance(ended, Ended)  # noqa: S101 - the pool returns what invoke made
        return invoke_reply(ended, request_id, config.version,
                            fields.get("x-amz-log-type") == "Tail")

    def _background(self, config: function.FunctionConfig, invocation: Invocation) -> None:
        """An ``Event`` invocation: run it, keep nothing but its logs."""
        try:
            self._pool.invoke(config, invocation)
        except Exception:  # noqa: BLE001 - no caller waits for an Event invocation
            _log.exception("Event invocation of %s failed", config.name)

    def reset(self) -> None:
        """moto was reset: its functions are gone, so are their environments."""
        self._pool.reset()

    def close(self) -> None:
        """Stop every environment."""
        self._pool.close()


def _client_context(encoded: str | None) -> str | None:
    """The ``X-Amz-Client-Context`` header's JSON (it travels base64-encoded)."""
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except ValueError:
        return None
