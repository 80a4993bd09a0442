"""Pure decisions of a container-app canary (planning.revision_traffic)."""

from __future__ import annotations

import pytest

from release.config.model import AppTraffic, SmokeCheck
from release.planning import revision_traffic


@pytest.mark.parametrize(("share", "traffic"), [
    (10, [{"revisionName": "app--new", "weight": 10}, {"revisionName": "app--old", "weight": 90}]),
    (99, [{"revisionName": "app--new", "weight": 99}, {"revisionName": "app--old", "weight": 1}]),
    (100, [{"revisionName": "app--new", "weight": 100}]),
    (0, [{"revisionName": "app--old", "weight": 100}]),
])
def test_weights(share: int, traffic: list[dict[str, object]]) -> None:
    assert revision_traffic.weights("app--new", "app--old", share) == traffic
    assert sum(int(str(t["weight"])) for t in traffic) == 100


@pytest.mark.parametrize(("traffic", "stages", "said"), [
    (AppTraffic(), (100,), "all at once"),
    (AppTraffic("canary", 25, 30), (25, 100), "canary 25% -> 100%, 30s at 25%; no gates"),
    (AppTraffic("canary", 10, 60, SmokeCheck("/health", 204)), (10, 100),
     "canary 10% -> 100%, 60s at 10%; gate: smoke GET /health -> 204"),
])
def test_stages_and_description(traffic: AppTraffic, stages: tuple[int, ...], said: str) -> None:
    assert revision_traffic.stages(traffic) == stages
    assert revision_traffic.describe(traffic) == said


def test_a_failed_smoke_gate_keeps_what_it_saw() -> None:
    gate = revision_traffic.smoke_gate(10, False, "GET /health answered 500 (wanted 200)")
    assert gate.text() == "smoke failed at 10%: GET /health answered 500 (wanted 200)"
    assert revision_traffic.smoke_gate(10, True, "GET / answered 200").text() == \
        "smoke passed at 10%"
