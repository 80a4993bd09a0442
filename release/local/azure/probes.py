"""Container Apps health probes (Liveness, Readiness, Startup), decided without I/O.

A container's ``probes`` are ``{type, httpGet: {path, port}, tcpSocket: {port},
initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold, successThreshold}``
with Azure's defaults (period 10 s, timeout 1 s, failure threshold 3, success threshold 1).
A container with ingress and no probes gets Azure's default: the target port must answer.
The local cloud moves faster than Azure: delays and periods are multiplied by ``scale``
(0.1 by default), never below ``min_period``. Messages are worded as the platform's events
are (``Readiness probe failed: HTTP probe failed with statuscode: 404``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["pending", "ready", "failed"]


@dataclass(frozen=True)
class Probe:
    """One probe of one container, with the local timing applied."""

    kind: str  # Liveness, Readiness, Startup
    port: int
    path: str | None  # None: a TCP probe (the port accepts and answers)
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int


@dataclass(frozen=True)
class Tally:
    """What one probe saw so far."""

    failures: int = 0  # consecutive
    successes: int = 0  # consecutive
    last_at: float | None = None
    error: str = ""


def _number(value: Any, default: float, low: float, high: float) -> float:
    return float(value) if isinstance(value, int | float) and low <= value <= high else default


def probes_of(container: Mapping[str, Any], target_port: int | None, *, scale: float = 0.1,
              min_period: float = 0.5) -> list[Probe]:
    """The container's probes; Azure's default TCP probe on ``target_port`` when it has
    none (no probe at all without ingress)."""
    found = []
    for raw in container.get("probes") or []:
        http, tcp = raw.get("httpGet"), raw.get("tcpSocket")
        where = http or tcp or {}
        port = where.get("port", target_port)
        if not isinstance(port, int):
            continue
        path = str(http.get("path") or "/") if http else None
        period = max(_number(raw.get("periodSeconds"), 10, 1, 240) * scale, min_period)
        found.append(Probe(
            kind=str(raw.get("type") or "Liveness"), port=port, path=path,
            initial_delay=_number(raw.get("initialDelaySeconds"), 0, 0, 60) * scale,
            period=period,
            timeout=min(_number(raw.get("timeoutSeconds"), 1, 1, 240), max(period, 1.0)),
            failure_threshold=int(_number(raw.get("failureThreshold"), 3, 1, 10)),
            success_threshold=int(_number(raw.get("successThreshold"), 1, 1, 10))))
    if not found and target_port is not None:
        found.append(Probe("Readiness", target_port, None, 0, max(10 * scale, min_period),
                           1, 3, 1))
    return found


def due(probe: Probe, tally: Tally, started_at: float, now: float) -> bool:
    """Whether to run the probe now."""
    if now < started_at + probe.initial_delay:
        return False
    return tally.last_at is None or now >= tally.last_at + probe.period


def record(tally: Tally, error: str | None, now: float) -> Tally:
    """The tally after one run (``error`` None: it passed)."""
    if error is None:
        return Tally(0, tally.successes + 1, now, "")
    return Tally(tally.failures + 1, 0, now, error)


def message(probe: Probe, error: str) -> str:
    """The platform's event text for a failed probe."""
    return f"{probe.kind} probe failed: {error}"


def verdict(probes: Sequence[Probe], tallies: Sequence[Tally]) -> tuple[Verdict, str]:
    """One replica: failed when a probe failed ``failureThreshold`` times in a row, ready
    when every Readiness and Startup probe passed ``successThreshold`` times (Liveness ones
    at least once), else pending; with the failed probe's message."""
    for probe, tally in zip(probes, tallies, strict=True):
        if tally.failures >= probe.failure_threshold:
            return "failed", message(probe, tally.error)
    for probe, tally in zip(probes, tallies, strict=True):
        wanted = 1 if probe.kind == "Liveness" else probe.success_threshold
        if tally.successes < wanted:
            return "pending", message(probe, tally.error) if tally.error else ""
    return "ready", ""
