"""Lambda updates against a scripted Lambda (moto's updates are Successful at once and never
conflict): waits on LastUpdateStatus, ResourceConflictException retries, Failed is terminal.
"""

from __future__ import annotations

import pytest
from fakecloud import FakeClock, FakeLambda, client_error

from release.adapters.aws import lambda_
from release.errors import ReleaseError

OLD, NEW = "reg/fn@sha256:old", "reg/fn@sha256:new"


def _pace(clock: FakeClock) -> lambda_.Pace:
    return lambda_.Pace(clock, clock.sleep, lambda: 0.5)


def _update() -> lambda_.FunctionUpdate:
    return lambda_.FunctionUpdate("fn", "live", NEW, None, {"release:source-commit": "abc"})


def test_waits_for_successful_before_publishing_and_moving_the_alias() -> None:
    lam, clock = FakeLambda("fn", OLD), FakeClock()
    lam.after_update = ["InProgress", "InProgress", "Successful"]
    version = lambda_.deploy_image(lam, _update(), _pace(clock))
    assert version == "2"
    assert lam.aliases["live"] == "2"
    assert lam.versions["2"] == NEW
    assert clock.sleeps == [2, 2]
    ops = [op for op, _ in lam.calls]
    assert ops.index("publish_version") > ops.index("update_function_code")
    assert ops.index("update_alias") > ops.index("publish_version")


def test_failed_update_is_terminal_and_the_alias_stays() -> None:
    lam, clock = FakeLambda("fn", OLD), FakeClock()
    lam.after_update = ["InProgress", "Failed"]
    with pytest.raises(lambda_.UpdateFailedError) as caught:
        lambda_.deploy_image(lam, _update(), _pace(clock))
    assert "Lambda update of fn failed: The image manifest or layer media type" in \
        caught.value.message
    assert "alias still points at the previous version" in (caught.value.hint or "")
    assert lam.aliases["live"] == "1"
    assert lam.versions == {"1": OLD}  # nothing published
    assert lam.count("publish_version") == 0


def test_resource_conflict_twice_then_success_retries_with_jittered_backoff() -> None:
    lam, clock = FakeLambda("fn", OLD), FakeClock()
    conflict = client_error("ResourceConflictException", "UpdateFunctionCode",
                            "An update is in progress", status=409)
    lam.faults["update_function_code"] = [conflict, conflict]
    version = lambda_.deploy_image(lam, _update(), _pace(clock))
    assert lam.count("update_function_code") == 3
    assert clock.sleeps == [0.5, 1.0]  # random 0.5 x 1 s, x 2 s: full jitter, doubling
    assert version == "2"
    assert lam.aliases["live"] == "2"


def test_resource_conflict_that_never_clears_gives_up_with_the_code() -> None:
    lam, clock = FakeLambda("fn", OLD), FakeClock()
    lam.faults["update_function_code"] = [
        client_error("ResourceConflictException", "UpdateFunctionCode") for _ in range(10)]
    with pytest.raises(ReleaseError) as caught:
        lambda_.deploy_image(lam, _update(), _pace(clock))
    assert "update code of Lambda function fn: ResourceConflictException" in \
        caught.value.message
    assert lam.count("update_function_code") == lambda_.CONFLICT_ATTEMPTS
    assert lam.aliases["live"] == "1"


def test_an_update_that_never_finishes_hits_the_deadline() -> None:
    lam, clock = FakeLambda("fn", OLD), FakeClock()
    lam.status = "InProgress"
    with pytest.raises(ReleaseError) as caught:
        lambda_.deploy_image(lam, _update(), lambda_.Pace(clock, clock.sleep, lambda: 0.0,
                                                          deadline_seconds=30))
    assert "still updating after 30s" in caught.value.message
    assert lam.count("update_function_code") == 0  # never started over a running update
