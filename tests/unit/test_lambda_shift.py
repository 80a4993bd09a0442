"""The Lambda canary and linear release: pure decisions as tables (an injected clock), the
job summary's traffic table, and the engine's moves against scripted Lambda and CloudWatch
clients (what moto cannot show: provisioned concurrency)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from release.commands.deploy import Outcome, Result
from release.config.lambda_traffic import traffic
from release.config.model import LambdaSmoke, LambdaTraffic
from release.engine.context import Context
from release.engine.lambda_rollout import GateFailedError, Shift, shift
from release.planning import lambda_shift
from release.planning.lambda_shift import Gate, Move, Report


@pytest.mark.parametrize(("strategy", "percent", "want"), [
    ("all_at_once", 10, (100,)),
    ("canary", 10, (10, 100)),
    ("canary", 99, (99, 100)),
    ("linear", 25, (25, 50, 75, 100)),
    ("linear", 30, (30, 60, 90, 100)),
    ("linear", 50, (50, 100)),
    ("linear", 99, (99, 100)),
])
def test_shares(strategy: str, percent: int, want: tuple[int, ...]) -> None:
    assert lambda_shift.shares(strategy, percent) == want


@pytest.mark.parametrize(("share", "want"), [
    (10, {"AdditionalVersionWeights": {"7": 0.1}}),
    (33, {"AdditionalVersionWeights": {"7": 0.33}}),
    (100, {"AdditionalVersionWeights": {}}),
])
def test_routing(share: int, want: dict[str, Any]) -> None:
    assert lambda_shift.routing("7", share) == want


OK = Gate("alarms", True, 10)
BAD = Gate("smoke", False, 10, "the function failed")
CANARY, LINEAR = (10, 100), (25, 50, 75, 100)


@pytest.mark.parametrize(("stages", "stage", "now", "gates", "want"), [
    # watched since t=100 for 60 s, polled at most every 5 s
    (CANARY, 0, 100.0, [OK], Move("wait", seconds=5.0)),
    (CANARY, 0, 158.0, [OK], Move("wait", seconds=2.0)),
    (CANARY, 0, 160.0, [OK], Move("finish")),
    (CANARY, 0, 100.0, [OK, BAD], Move("roll_back", gate=BAD)),
    (CANARY, 0, 500.0, [BAD], Move("roll_back", gate=BAD)),  # a late failure still counts
    (LINEAR, 0, 160.0, [], Move("step")),
    (LINEAR, 1, 160.0, [OK], Move("step")),
    (LINEAR, 2, 160.0, [OK], Move("finish")),
    (LINEAR, 2, 130.0, [], Move("wait", seconds=5.0)),
])
def test_when_to_wait_step_finish_or_roll_back(stages: tuple[int, ...], stage: int, now: float,
                                               gates: list[Gate], want: Move) -> None:
    assert lambda_shift.next_move(stages=stages, stage=stage, started=100.0, now=now,
                                  interval=60, gates=gates) == want


@pytest.mark.parametrize(("error", "answer", "expect", "passed"), [
    (None, '{"score": 0.5}', None, True),
    (None, '{"score": 0.5}', "score", True),
    (None, '{"other": 1}', "score", False),
    ("Unhandled", '{"errorType": "ValueError"}', None, False),
    ("Unhandled", '{"score": 0.5}', "score", False),
])
def test_the_smoke_gate(error: str | None, answer: str, expect: str | None,
                        passed: bool) -> None:
    gate = lambda_shift.smoke_gate(10, function_error=error, answer=answer,
                                   expect_contains=expect)
    assert gate.passed is passed


@pytest.mark.parametrize(("states", "passed", "detail"), [
    ({"a": "OK", "b": "INSUFFICIENT_DATA"}, True, ""),
    ({"a": "ALARM", "b": "OK"}, False, "a in ALARM"),
    ({"a": "OK"}, False, "no such alarm: b"),
])
def test_the_alarm_gate(states: dict[str, str], passed: bool, detail: str) -> None:
    assert lambda_shift.alarm_gate(10, ["a", "b"], states) == Gate("alarms", passed, 10, detail)


def test_the_report_and_the_description_say_what_happened() -> None:
    report = Report("canary", "8", "7", (10,), (Gate("smoke", True, 10), OK), BAD)
    assert report.text() == ("canary 10%; rolled back to version 7: gate smoke failed at 10%: "
                             "the function failed; smoke passed at 10%; alarms passed at 10%")
    config = LambdaTraffic("linear", 25, 30, ("errors",), LambdaSmoke("{}"))
    assert lambda_shift.describe(config) == ("linear 25% -> 50% -> 75% -> 100%, 30s per "
                                             "share; gates: smoke, alarms (1)")
    assert lambda_shift.describe(LambdaTraffic()) == "all at once"


def test_the_config_block_with_its_defaults() -> None:
    assert traffic(None) == LambdaTraffic()
    assert traffic({"strategy": "canary", "smoke": {"payload": {"b": 1, "a": [2]}}}) == (
        LambdaTraffic("canary", 10, 60, (), LambdaSmoke('{"a": [2], "b": 1}', None)))


def test_the_summary_shows_stages_gates_and_the_failed_gate() -> None:
    report = Report("canary", "8", "7", (10,), (BAD,), BAD)
    failed = Outcome("quetzal", "lambda", "k", None, built=False, registered=False,
                     updated=False, status="failed", message="gate smoke failed at 10%",
                     rolled_back_to="version 7", traffic=report)
    done = replace(failed, service="coral", status="deployed", message="", rolled_back_to=None,
                   traffic=Report("linear", "3", "2", (50, 100), (OK,)))
    text = Result("prod", "c" * 40, (failed, done), False).summary_markdown()
    table = text.split("| traffic |", 1)[1].splitlines()
    assert table[2] == ("| quetzal lambda | canary | 10% | ❌ smoke failed at 10%: the function "
                        "failed | smoke failed at 10%: the function failed |")
    assert table[3] == "| coral lambda | linear | 50% → 100% | ✅ alarms passed at 10% |  |"
    assert "failed, rolled back to version 7" in text


class FakeLambda:
    """update_alias / get_alias as Lambda answers; provisioned concurrency scripted."""

    def __init__(self, provisioned: list[str] | None = None) -> None:
        self.moves: list[tuple[str, dict[str, float]]] = []
        self.provisioned = provisioned

    def update_alias(self, **call: Any) -> None:
        self.moves.append((call["FunctionVersion"],
                           call["RoutingConfig"]["AdditionalVersionWeights"]))

    def get_provisioned_concurrency_config(self, **_: str) -> dict[str, str]:
        if self.provisioned is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {
                "Code": "ProvisionedConcurrencyConfigNotFoundException"}},
                "GetProvisionedConcurrencyConfig")
        status = self.provisioned.pop(0) if len(self.provisioned) > 1 else self.provisioned[0]
        return {"Status": status, "StatusReason": "" if status != "FAILED" else "no capacity"}


class FakeCloudWatch:
    """DescribeAlarms through its paginator; the state follows a script by clock time."""

    def __init__(self, clock: list[float], alarm_at: float | None) -> None:
        self.clock, self.alarm_at = clock, alarm_at

    def get_paginator(self, _: str) -> FakeCloudWatch:
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        firing = self.alarm_at is not None and self.clock[0] >= self.alarm_at
        return [{"MetricAlarms": [{"AlarmName": name, "StateValue": "ALARM" if firing else "OK"}
                                  for name in kwargs["AlarmNames"]]}]


class FakeAws:
    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, name: str) -> Any:
        return self.clients[name]


def context(lam: FakeLambda, cloudwatch: FakeCloudWatch, clock: list[float]) -> Context:
    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return Context(None, None, FakeAws({"lambda": lam, "cloudwatch": cloudwatch}),  # type: ignore[arg-type]
                   "", clock=lambda: clock[0], sleep=sleep)


LINEAR_50 = LambdaTraffic("linear", 50, 30, ("errors",))


def test_a_linear_release_steps_through_its_shares_and_ends_alone() -> None:
    clock = [0.0]
    lam = FakeLambda()
    report = shift(context(lam, FakeCloudWatch(clock, None), clock),
                   Shift("quetzal", "fn", "live", "7", "8", LINEAR_50))
    assert lam.moves == [("7", {"8": 0.5}), ("8", {})]
    assert report.reached == (50, 100)
    assert [g.passed for g in report.gates] == [True]
    assert clock[0] == 30.0  # the interval was watched, in 5 s polls


def test_an_alarm_during_the_interval_puts_the_previous_version_back_alone() -> None:
    clock = [0.0]
    lam = FakeLambda()
    with pytest.raises(GateFailedError) as failed:
        shift(context(lam, FakeCloudWatch(clock, 12.0), clock),
              Shift("quetzal", "fn", "live", "7", "8", LINEAR_50))
    assert lam.moves == [("7", {"8": 0.5}), ("7", {})]
    assert failed.value.traffic.failed == Gate("alarms", False, 50, "errors in ALARM")
    assert failed.value.rolled_back_to == "version 7"
    assert clock[0] == 15.0  # seen at the first poll after it fired


def test_provisioned_concurrency_is_waited_ready_after_each_move_and_a_failure_rolls_back(
        ) -> None:
    clock = [0.0]
    lam = FakeLambda(["READY", "IN_PROGRESS", "READY", "IN_PROGRESS", "READY"])
    canary = LambdaTraffic("canary", 10, 0)
    report = shift(context(lam, FakeCloudWatch(clock, None), clock),
                   Shift("quetzal", "fn", "live", "7", "8", canary))
    assert [g.name for g in report.gates] == ["provisioned_concurrency"] * 2
    assert lam.moves[-1] == ("8", {})
    broken = FakeLambda(["READY", "FAILED"])
    with pytest.raises(GateFailedError, match="provisioned_concurrency failed at 10%"):
        shift(context(broken, FakeCloudWatch(clock, None), clock),
              Shift("quetzal", "fn", "live", "7", "8", canary))
    assert broken.moves[-1] == ("7", {})


def test_plan_entries_show_a_lambda_strategy() -> None:
    from release.config.model import LambdaDeployment
    from release.planning.reconcile import Entry

    canary = LambdaTraffic("canary", 10, 60, ("errors",))

    env = SimpleNamespace(deployments={
        "quetzal": SimpleNamespace(lambda_=LambdaDeployment("fn", deployment=canary)),
        "web": SimpleNamespace(lambda_=None)})
    entries = [Entry("quetzal", "changed paths", "k", "services/quetzal"),
               Entry("web", "changed paths", "k")]
    shown = lambda_shift.annotated(env, entries)  # type: ignore[arg-type]
    assert shown[0].detail == ("services/quetzal; lambda: canary 10% -> 100%, 60s per share; "
                               "gates: alarms (1)")
    assert shown[1] == entries[1]
