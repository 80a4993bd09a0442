"""Invoke a Lambda function and read its answer: what a release smoke-tests a function with
(`release invoke`, the Lambda canary's smoke gate)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain

COLD_START_SECONDS = 30  # added to the function's Timeout for the client's read timeout
MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous request limit


@dataclass(frozen=True)
class Invoked:
    """One synchronous invocation's answer."""

    function: str
    qualifier: str
    version: str  # the version that ran (an alias with weights picks one)
    payload: bytes
    function_error: str | None  # "Unhandled" (or "Handled") when the function failed
    log_tail: str  # the log's last 4 KB, decoded

    @property
    def failed(self) -> bool:
        """True when the function reported an error."""
        return self.function_error is not None


def timeout_of(lam: Any, function: str, qualifier: str) -> int:
    """The Timeout (seconds) of the version ``qualifier`` resolves to."""
    try:
        found = lam.get_function_configuration(FunctionName=function, Qualifier=qualifier)
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise explain(exc, f"read {function}:{qualifier}") from None
    return int(found.get("Timeout") or 3)


def invoke(lam: Any, function: str, qualifier: str, payload: bytes) -> Invoked:
    """Invoke ``function:qualifier`` synchronously with ``payload`` (JSON), the log's tail
    asked for. ``lam`` should make one attempt (``AwsClients.invoke_client``)."""
    try:
        answer = lam.invoke(FunctionName=function, Qualifier=qualifier, LogType="Tail",
                            InvocationType="RequestResponse", Payload=payload)
        body = answer["Payload"].read(MAX_PAYLOAD + 1)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"invoke {function}:{qualifier}") from None
    tail = answer.get("LogResult") or ""
    try:
        log = base64.b64decode(tail).decode("utf-8", "replace") if tail else ""
    except ValueError:
        log = ""
    return Invoked(function, qualifier, str(answer.get("ExecutedVersion") or ""), body,
                   answer.get("FunctionError"), log)
