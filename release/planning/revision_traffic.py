"""Pure decisions of a container-app canary: the app's ``ingress.traffic`` at each share,
the smoke check's verdict as a gate, and what plan and diff say about the strategy. The
stages, gates and report are Lambda's (``planning.lambda_shift``): one kind for both."""

from __future__ import annotations

from typing import Any

from release.config.model import AppTraffic
from release.planning import lambda_shift
from release.planning.lambda_shift import Gate


def stages(traffic: AppTraffic) -> tuple[int, ...]:
    """The new revision's share at each stage: (percent, 100) for a canary, else (100,)."""
    return lambda_shift.shares(traffic.strategy, traffic.percent)


def weights(new: str, old: str, share: int) -> list[dict[str, Any]]:
    """``configuration.ingress.traffic`` giving revision ``new`` ``share`` percent and
    ``old`` the rest (by revision name: ``latestRevision`` would follow a later revision)."""
    if share >= 100:
        return [{"revisionName": new, "weight": 100}]
    if share <= 0:
        return [{"revisionName": old, "weight": 100}]
    return [{"revisionName": new, "weight": share}, {"revisionName": old, "weight": 100 - share}]


def smoke_gate(share: int, passed: bool, detail: str) -> Gate:
    """The HTTP smoke check's verdict at ``share``."""
    return Gate("smoke", passed, share, "" if passed else detail)


def describe(traffic: AppTraffic) -> str:
    """The strategy and its gate in a few words, for plan, diff and dry runs."""
    if traffic.strategy != "canary":
        return "all at once"
    shown = " -> ".join(f"{share}%" for share in stages(traffic))
    smoke = traffic.smoke
    gate = (f"gate: smoke GET {smoke.path} -> {smoke.status}" if smoke is not None
            else "no gates")
    return f"canary {shown}, {traffic.interval_seconds}s at {traffic.percent}%; {gate}"
