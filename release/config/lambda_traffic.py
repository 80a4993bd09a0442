"""``lambda.deployment`` of an environment file as a ``LambdaTraffic`` (the schema has
checked its shape), and the smoke payload's values that look like credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from release.config.credentials import value_reason
from release.config.model import LambdaSmoke, LambdaTraffic

__all__ = ["MAX_SMOKE_PAYLOAD", "LambdaTraffic", "payload_size_problem", "secret_values",
           "traffic"]

MAX_SMOKE_PAYLOAD = 256 * 1024  # bytes of JSON: a smoke event, not a data set


def traffic(raw: dict[str, Any] | None) -> LambdaTraffic:
    """The strategy and gates (defaults where the file says nothing)."""
    raw = raw or {}
    default = LambdaTraffic()
    smoke = raw.get("smoke")
    return LambdaTraffic(
        strategy=raw.get("strategy", default.strategy),
        percent=int(raw.get("percent", default.percent)),
        interval_seconds=int(raw.get("interval_seconds", default.interval_seconds)),
        alarms=tuple(str(name) for name in raw.get("alarms") or ()),
        smoke=LambdaSmoke(payload=json.dumps(smoke.get("payload"), sort_keys=True),
                          expect_contains=smoke.get("expect_contains"))
        if isinstance(smoke, dict) else None)


def payload_size_problem(config: LambdaTraffic) -> str | None:
    """Why the smoke payload is refused for its size (None: it is not)."""
    if config.smoke is not None and len(config.smoke.payload.encode()) > MAX_SMOKE_PAYLOAD:
        return f"the smoke payload is over {MAX_SMOKE_PAYLOAD // 1024} KB of JSON"
    return None


def secret_values(value: Any, at: tuple[str | int, ...] = ()
                  ) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """``(path, value, why)`` for every string in the payload that looks like a credential
    (a smoke event is written to the log and to the function's logs)."""
    if isinstance(value, str):
        why = value_reason(value)
        if why:
            yield at, value, why
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_values(item, (*at, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_values(item, (*at, index))
