"""Decisions about a rollout in progress and what to do when it fails. Pure: data in, data out.

ECS reports success for a service that was rolled back (``services-stable``), so the
verdict looks at OUR deployment id and OUR task definition ARN, never at stability alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

VerdictKind = Literal["waiting", "completed", "failed", "gone", "deadline"]
BATCH = 10  # DescribeServices takes at most 10 services per call


@dataclass(frozen=True)
class Verdict:
    """Where one rollout stands after one look at its service."""

    kind: VerdictKind
    detail: str = ""


def judge(service: Mapping[str, Any], deployment_id: str, arn: str, *, elapsed: float,
          deadline: float) -> Verdict:
    """Our deployment's state, from one DescribeServices entry of its service."""
    ours = [d for d in service.get("deployments", []) if d.get("id") == deployment_id]
    if not ours:
        return Verdict("gone", f"the service runs {revision(service.get('taskDefinition', ''))}")
    state = ours[0].get("rolloutState")
    if state == "FAILED":
        return Verdict("failed", str(ours[0].get("rolloutStateReason") or "no reason given"))
    if state == "COMPLETED" and service.get("taskDefinition") == arn:
        return Verdict("completed")
    if elapsed >= deadline:
        return Verdict("deadline", f"not complete after {deadline:.0f}s (state {state})")
    return Verdict("waiting", str(state))


def revision(arn: str) -> str:
    """``family:N`` of a task definition ARN (the ARN itself when it has no slash)."""
    return arn.rsplit("/", 1)[-1]


def revision_number(arn: str) -> int | None:
    """N of ``...:N``, or None."""
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def delays(first: float = 2.0, factor: float = 1.5, cap: float = 15.0) -> Iterator[float]:
    """Seconds between polls: ``first``, then times ``factor`` each time, at most ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, cap)


def batches(names: Sequence[str], size: int = BATCH) -> list[list[str]]:
    """``names`` in order, in chunks of at most ``size``, duplicates dropped."""
    unique = list(dict.fromkeys(names))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def jittered(attempt: int, random: float, base: float = 1.0, cap: float = 20.0) -> float:
    """Full-jitter exponential backoff: ``random`` (0..1) times ``base * 2**attempt``, capped."""
    return random * min(cap, base * 2.0 ** attempt)


RecoveryAction = Literal["restore", "report"]


@dataclass(frozen=True)
class Recovery:
    """After our rollout failed: put the previous revision back, or only report."""

    action: RecoveryAction
    message: str


def recover(kind: VerdictKind, *, circuit_breaker_rollback: bool, previous_arn: str | None,
            our_arn: str, running_arn: str) -> Recovery:
    """What to do when OUR deployment failed, was replaced, or ran out of time.

    The circuit breaker rolls back by itself: a second rollback from us would race it.
    A deployment that is gone while the service runs something else was replaced by
    ECS's rollback or by another release: that one wins, we do not fight it.
    """
    previous = revision(previous_arn) if previous_arn else ""
    if kind == "gone":
        if circuit_breaker_rollback and running_arn == previous_arn:
            return Recovery("report", f"ECS's circuit breaker rolled back to {previous}")
        return Recovery("report", f"superseded by another deployment; the service runs "
                                  f"{revision(running_arn)}")
    if kind == "failed" and circuit_breaker_rollback:
        return Recovery("report", f"ECS's circuit breaker rolls back to {previous}"
                        if previous else "ECS's circuit breaker rolls back")
    if previous_arn is None or previous_arn == our_arn:
        return Recovery("report", "no previous revision to restore")
    return Recovery("restore", f"restoring {previous}")


def previous_revision(current_arn: str, family_arns: Sequence[str],
                      to: int | None = None) -> str | None:
    """The revision to roll back to: revision ``to``, else the newest one below the current."""
    numbered = {n: arn for arn in family_arns if (n := revision_number(arn)) is not None}
    if to is not None:
        return numbered.get(to)
    current = revision_number(current_arn)
    lower = [n for n in numbered if current is None or n < current]
    return numbered[max(lower)] if lower else None


def previous_version(current: str | None, versions: Sequence[str],
                     to: str | None = None) -> str | None:
    """The Lambda version to move an alias back to: ``to``, else the newest below ``current``."""
    published = sorted(int(v) for v in versions if v.isdigit())
    if to is not None:
        return to if to.isdigit() and int(to) in published else None
    below = [v for v in published if current is None or not current.isdigit()
             or v < int(current)]
    return str(below[-1]) if below else None


DowngradeKind = Literal["ok", "refuse", "unknown"]


@dataclass(frozen=True)
class Downgrade:
    """Whether deploying our commit would replace a newer one."""

    kind: DowngradeKind
    message: str = ""


def downgrade(ours: str, running: str | None, running_descends_from_ours: bool | None, *,
              allowed: bool) -> Downgrade:
    """Refuse when the running commit is a descendant of ours (ours is older).

    ``running_descends_from_ours`` is None when the running commit is not in the local
    history (a shallow clone, another branch): then we cannot tell and do not refuse.
    """
    if not running or running == ours:
        return Downgrade("ok")
    if running_descends_from_ours is None:
        return Downgrade("unknown", f"running commit {running[:12]} is not in the local "
                                    "history; cannot tell whether this is a downgrade")
    if not running_descends_from_ours:
        return Downgrade("ok")
    if allowed:
        return Downgrade("ok", f"downgrading from {running[:12]} (--allow-downgrade)")
    return Downgrade("refuse", f"refusing to deploy commit {ours[:12]}: it is older than "
                               f"the running {running[:12]}")
