"""Pure rollout decisions, as tables: verdicts, backoff, batches, recovery, downgrades."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from release.planning import rollout

OURS = "arn:aws:ecs:r:1:task-definition/web:7"
PREV = "arn:aws:ecs:r:1:task-definition/web:6"
OTHER = "arn:aws:ecs:r:1:task-definition/web:8"


def _svc(task: str, *deployments: tuple[str, str]) -> dict[str, Any]:
    return {"taskDefinition": task,
            "deployments": [{"id": i, "rolloutState": s, "rolloutStateReason": "why"}
                            for i, s in deployments]}


@pytest.mark.parametrize(("service", "elapsed", "kind", "detail"), [
    (_svc(OURS, ("d1", "COMPLETED")), 0, "completed", ""),
    (_svc(OURS, ("d1", "IN_PROGRESS"), ("d0", "COMPLETED")), 10, "waiting", "IN_PROGRESS"),
    # COMPLETED but the service runs another definition: not ours, keep waiting
    (_svc(PREV, ("d1", "COMPLETED")), 10, "waiting", "COMPLETED"),
    (_svc(OURS, ("d1", "FAILED")), 10, "failed", "why"),
    # our id gone (circuit breaker or another release): say what runs
    (_svc(PREV, ("d2", "IN_PROGRESS")), 10, "gone", "the service runs web:6"),
    (_svc(OURS, ("d1", "IN_PROGRESS")), 60, "deadline", "not complete after 60s"),
    # FAILED wins over the deadline: the reason is more useful
    (_svc(OURS, ("d1", "FAILED")), 600, "failed", "why"),
])
def test_judge(service: dict[str, Any], elapsed: float, kind: str, detail: str) -> None:
    verdict = rollout.judge(service, "d1", OURS, elapsed=elapsed, deadline=60)
    assert verdict.kind == kind
    assert detail in verdict.detail


def test_delays_start_at_2_grow_by_half_and_cap_at_15() -> None:
    assert list(itertools.islice(rollout.delays(), 8)) == [
        2.0, 3.0, 4.5, 6.75, 10.125, 15.0, 15.0, 15.0]


@pytest.mark.parametrize(("names", "expected"), [
    ([], []),
    (["a"], [["a"]]),
    ([f"s{i}" for i in range(10)], [[f"s{i}" for i in range(10)]]),
    ([f"s{i}" for i in range(23)], [[f"s{i}" for i in range(10)],
                                     [f"s{i}" for i in range(10, 20)],
                                     ["s20", "s21", "s22"]]),
    (["a", "b", "a"], [["a", "b"]]),
])
def test_batches(names: list[str], expected: list[list[str]]) -> None:
    assert rollout.batches(names) == expected


@pytest.mark.parametrize(("attempt", "random", "expected"), [
    (0, 1.0, 1.0), (1, 1.0, 2.0), (3, 0.5, 4.0), (10, 1.0, 20.0), (2, 0.0, 0.0)])
def test_jittered(attempt: int, random: float, expected: float) -> None:
    assert rollout.jittered(attempt, random) == expected


@pytest.mark.parametrize(("case", "action", "says"), [
    (("failed", False, PREV, OURS), "restore", "restoring web:6"),
    (("deadline", False, PREV, OURS), "restore", "restoring web:6"),
    # the breaker is still waiting for failed tasks at our deadline: we restore
    (("deadline", True, PREV, OURS), "restore", "restoring web:6"),
    (("failed", True, PREV, OURS), "report", "circuit breaker rolls back to web:6"),
    (("gone", True, PREV, PREV), "report", "circuit breaker rolled back to web:6"),
    (("gone", False, PREV, OTHER), "report", "superseded by another deployment"),
    (("gone", True, PREV, OTHER), "report", "superseded by another deployment"),
    (("failed", False, None, OURS), "report", "no previous revision"),
    (("failed", False, OURS, OURS), "report", "no previous revision"),  # a redeploy
])
def test_recover(case: tuple[rollout.VerdictKind, bool, str | None, str], action: str,
                 says: str) -> None:
    kind, breaker, previous, running = case
    decision = rollout.recover(kind, circuit_breaker_rollback=breaker, previous_arn=previous,
                               our_arn=OURS, running_arn=running)
    assert decision.action == action
    assert says in decision.message


FAMILY = [f"arn:aws:ecs:r:1:task-definition/web:{n}" for n in (9, 7, 6, 3)]


@pytest.mark.parametrize(("current", "to", "expected"), [
    (FAMILY[0], None, FAMILY[1]),  # newest below 9 is 7 (8 was deregistered)
    (FAMILY[2], None, FAMILY[3]),
    (FAMILY[3], None, None),  # nothing older
    (FAMILY[0], 3, FAMILY[3]),
    (FAMILY[0], 4, None),  # not an active revision
])
def test_previous_revision(current: str, to: int | None, expected: str | None) -> None:
    assert rollout.previous_revision(current, FAMILY, to) == expected


@pytest.mark.parametrize(("current", "to", "expected"), [
    ("5", None, "4"), ("1", None, None), ("5", "2", "2"), ("5", "9", None),
    ("5", "x", None), (None, None, "5")])
def test_previous_version(current: str | None, to: str | None, expected: str | None) -> None:
    assert rollout.previous_version(current, ["1", "2", "4", "5"], to) == expected


@pytest.mark.parametrize(("running", "descends", "allowed", "kind", "says"), [
    (None, None, False, "ok", ""),
    ("a" * 40, None, False, "ok", ""),  # the same commit
    ("b" * 40, True, False, "refuse", "older than the running bbbbbbbbbbbb"),
    ("b" * 40, True, True, "ok", "downgrading from bbbbbbbbbbbb"),
    ("b" * 40, False, False, "ok", ""),  # ours is newer (or a sibling branch)
    ("b" * 40, None, False, "unknown", "not in the local history"),
])
def test_downgrade(running: str | None, descends: bool | None, allowed: bool, kind: str,
                   says: str) -> None:
    verdict = rollout.downgrade("a" * 40, running, descends, allowed=allowed)
    assert verdict.kind == kind
    assert says in verdict.message
