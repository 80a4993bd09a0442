"""ECS progressive delivery's pure decisions, as tables: the deploymentConfiguration sent for
each strategy (checked against botocore's input shape), the words plan shows, what a
ServiceDeployment answer means, the stages a poll missed; and the follower on a scripted
ECS client with an injected clock (our smoke hook, a pause, a deadline)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from release.adapters.aws import ecs_progressive
from release.config import ecs_deployment
from release.config.model import EcsStrategy, LifecycleHook, RunTaskGate, SmokeCheck
from release.engine.apply import Outcome
from release.planning import ecs_strategy
from release.summary import delivery

ROLE = "arn:aws:iam::123456789012:role/hooks"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:checks"


def valid_update(configuration: dict[str, Any]) -> list[str]:
    """botocore's own validation of UpdateService with this deploymentConfiguration."""
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("UpdateService").input_shape
    report = ParamValidator().validate({"service": "web", "deploymentConfiguration":
                                        configuration}, shape)
    return [report.generate_report()] if report.has_errors() else []


@pytest.mark.parametrize(("strategy", "expected"), [
    (EcsStrategy(), {"strategy": "ROLLING",
                     "deploymentCircuitBreaker": {"enable": True, "rollback": True}}),
    (EcsStrategy(circuit_breaker=False, alarms=("a",)), {
        "strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "alarms": {"alarmNames": ["a"], "enable": True, "rollback": True}}),
    (EcsStrategy(strategy="blue_green", bake_minutes=3), {
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 3,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}}),
    (EcsStrategy(strategy="canary", canary_percent=12.5), {
        "strategy": "CANARY", "bakeTimeInMinutes": 0,
        "canaryConfiguration": {"canaryPercent": 12.5, "canaryBakeTimeInMinutes": 10},
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}}),
    (EcsStrategy(strategy="linear", step_percent=25.0, step_minutes=1), {
        "strategy": "LINEAR", "bakeTimeInMinutes": 0,
        "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1},
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}}),
    (EcsStrategy(strategy="canary", smoke=SmokeCheck(), lifecycle_hooks=(
        LifecycleHook(("POST_SCALE_UP",), FUNCTION, ROLE, 5, "continue"),)), {
        "strategy": "CANARY", "bakeTimeInMinutes": 0,
        "canaryConfiguration": {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10},
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "lifecycleHooks": [
            {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]},
            {"targetType": "AWS_LAMBDA", "hookTargetArn": FUNCTION, "roleArn": ROLE,
             "lifecycleStages": ["POST_SCALE_UP"],
             "timeoutConfiguration": {"timeoutInMinutes": 5, "action": "CONTINUE"}}]}),
])
def test_the_deployment_configuration_ecs_gets(strategy: EcsStrategy,
                                               expected: dict[str, Any]) -> None:
    sent = ecs_strategy.deployment_configuration(strategy)
    assert sent == expected
    assert valid_update(sent) == []


@pytest.mark.parametrize(("strategy", "said"), [
    (None, "rolling"),
    (EcsStrategy(), "rolling"),
    (EcsStrategy(strategy="canary", canary_percent=10, step_minutes=5, bake_minutes=10,
                 alarms=("web-5xx",), run_task=RunTaskGate(("manage.py", "migrate")),
                 smoke=SmokeCheck(path="/health")),
     "canary 10%, the rest after 5 min, bake 10 min; gates: run task `manage.py migrate`; "
     "smoke GET /health -> 200; alarms web-5xx"),
    (EcsStrategy(strategy="blue_green", smoke=SmokeCheck(
        path="/health", url="https://nlb.example.com:8443/", host_header="web.example.com")),
     "blue/green, bake 0 min; gates: smoke GET /health at https://nlb.example.com:8443 -> 200"),
    (EcsStrategy(strategy="linear", step_percent=25, lifecycle_hooks=(
        LifecycleHook(("POST_SCALE_UP",)),), circuit_breaker=False),
     "linear 25% every 6 min, bake 0 min; gates: hooks pause; no circuit breaker"),
])
def test_plan_and_diff_describe_the_strategy_and_gates(strategy: EcsStrategy | None,
                                                       said: str) -> None:
    assert ecs_strategy.describe(strategy) == said


HOOK = {"hookId": "h1", "targetType": "PAUSE", "status": "AWAITING_ACTION"}


@pytest.mark.parametrize(("found", "smoke_pending", "kind", "reason"), [
    ({"status": "IN_PROGRESS", "lifecycleStage": "SCALE_UP"}, False, "waiting", ""),
    ({"status": "SUCCESSFUL", "lifecycleStage": "CLEAN_UP"}, False, "successful", ""),
    ({"status": "IN_PROGRESS", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
      "lifecycleHookDetails": [HOOK]}, True, "smoke", ""),
    ({"status": "IN_PROGRESS", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
      "lifecycleHookDetails": [HOOK]}, False, "paused", "paused at POST_TEST_TRAFFIC_SHIFT"),
    ({"status": "IN_PROGRESS", "lifecycleStage": "POST_SCALE_UP",
      "lifecycleHookDetails": [HOOK]}, True, "paused", "paused at POST_SCALE_UP"),
    ({"status": "ROLLBACK_IN_PROGRESS", "lifecycleStage": "BAKE_TIME"}, False, "waiting", ""),
    ({"status": "ROLLBACK_SUCCESSFUL", "lifecycleStage": "BAKE_TIME",
      "statusReason": "alarm x in ALARM"}, False, "failed", "rolled back: alarm x in ALARM"),
    ({"status": "STOPPED", "lifecycleStage": "SCALE_UP", "statusReason": "a newer service "
      "deployment replaced it"}, False, "failed", "stopped: a newer service deployment"),
    ({"status": "ROLLBACK_FAILED", "lifecycleStage": "SCALE_UP"}, False, "failed",
     "rollback failed: ROLLBACK_FAILED"),
])
def test_what_a_service_deployment_answer_means(found: dict[str, Any], smoke_pending: bool,
                                                kind: str, reason: str) -> None:
    verdict = ecs_strategy.judge(found, smoke_pending=smoke_pending)
    assert verdict.kind == kind
    assert verdict.reason.startswith(reason)


@pytest.mark.parametrize(("last", "now", "reached"), [
    (None, "SCALE_UP", ["PRE_SCALE_UP", "SCALE_UP"]),
    (None, "RECONCILE_SERVICE", ["RECONCILE_SERVICE"]),
    ("SCALE_UP", "SCALE_UP", []),
    ("SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", ["POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
                                             "POST_TEST_TRAFFIC_SHIFT"]),
    ("CLEAN_UP", "BAKE_TIME", []),
])
def test_stages_a_poll_missed_are_still_reported(last: str | None, now: str,
                                                 reached: list[str]) -> None:
    assert ecs_strategy.reached(last, now) == reached


class ScriptedEcs:
    """Answers DescribeServiceDeployments from a script, records Continue calls."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script = script
        self.continued: list[tuple[str, str]] = []

    def describe_service_deployments(self, **_: Any) -> dict[str, Any]:
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return {"serviceDeployments": [answer], "failures": []}

    def continue_service_deployment(self, **kwargs: str) -> dict[str, Any]:
        self.continued.append((kwargs["hookId"], kwargs["action"]))
        return {"serviceDeploymentArn": kwargs["serviceDeploymentArn"]}


def follow(script: list[dict[str, Any]], smoke: Any = None, deadline: float = 100.0,
           ) -> tuple[ecs_progressive.Followed, ScriptedEcs, list[str]]:
    ecs, logged, now = ScriptedEcs(script), [], [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    started = ecs_progressive.Started("arn:sd/1", "td:2", 0.0)
    pace = ecs_progressive.Pace(lambda: now[0], sleep, 1.0, deadline)
    return (ecs_progressive.follow(ecs, started, name="web", pace=pace, log=logged.append,
                                   smoke=smoke), ecs, logged)


def stage(name: str, status: str = "IN_PROGRESS", weight: float | None = None,
          **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"status": status, "lifecycleStage": name, **more}
    if weight is not None:
        found["targetServiceRevision"] = {"requestedProductionTrafficWeight": weight}
    return found


def test_the_follower_answers_our_smoke_hook_and_logs_every_stage_and_share() -> None:
    followed, ecs, logged = follow([
        stage("SCALE_UP"), stage("POST_TEST_TRAFFIC_SHIFT", lifecycleHookDetails=[HOOK]),
        stage("PRODUCTION_TRAFFIC_SHIFT", weight=10.0), stage("BAKE_TIME", weight=100.0),
        stage("CLEAN_UP", "SUCCESSFUL", weight=100.0)], smoke=lambda: (True, "200"))
    assert followed.verdict.kind == "successful"
    assert ecs.continued == [("h1", "CONTINUE")]
    assert followed.gates == ["smoke passed: 200"]
    assert logged[:5] == ["web: PRE_SCALE_UP", "web: SCALE_UP", "web: POST_SCALE_UP",
                          "web: TEST_TRAFFIC_SHIFT", "web: POST_TEST_TRAFFIC_SHIFT"]
    shares = [line for line in logged if "% of production" in line]
    assert [s.split("(")[1].split("%")[0] for s in shares] == ["10", "100"]
    assert logged[-1] == "web: CLEAN_UP"


def test_a_failing_smoke_check_rolls_the_deployment_back() -> None:
    followed, ecs, _ = follow([
        stage("POST_TEST_TRAFFIC_SHIFT", lifecycleHookDetails=[HOOK]),
        stage("POST_TEST_TRAFFIC_SHIFT", "ROLLBACK_SUCCESSFUL",
              statusReason="ContinueServiceDeployment asked for a rollback")],
        smoke=lambda: (False, "GET / answered 500"))
    assert ecs.continued == [("h1", "ROLLBACK")]
    assert followed.verdict.kind == "failed"
    assert followed.gates == ["smoke FAILED: GET / answered 500"]


def test_a_pause_hook_ends_the_follow_as_paused_and_a_stuck_one_hits_the_deadline() -> None:
    followed, ecs, _ = follow([stage("POST_SCALE_UP", lifecycleHookDetails=[HOOK])])
    assert (followed.verdict.kind, ecs.continued) == ("paused", [])
    followed, _, _ = follow([stage("SCALE_UP")], deadline=5.0)
    assert followed.verdict.kind == "failed"
    assert "not done after 5s (at SCALE_UP)" in followed.verdict.reason


@pytest.mark.parametrize(("raw", "problem"), [
    ({"strategy": "canary", "canary_percent": 10.0}, None),
    ({"strategy": "canary", "canary_percent": 10.05}, "is not a multiple of 0.1"),
    ({"strategy": "rolling", "step_minutes": 1}, "does not apply to strategy rolling"),
    ({"strategy": "canary", "lifecycle_hooks": [{"pause": True, "lambda": FUNCTION,
                                                 "stages": ["PRE_SCALE_UP"]}]},
     "either a Lambda function or a pause"),
    ({"strategy": "canary", "lifecycle_hooks": [
        {"lambda": FUNCTION, "role_arn": "arn:aws:iam::999999999999:role/x",
         "stages": ["PRE_SCALE_UP"]}]}, "is not in this environment's account"),
])
def test_fields_that_only_fit_together(raw: dict[str, Any], problem: str | None) -> None:
    found: list[str] = []
    parsed = ecs_deployment.parse(raw, ("deployment",), account="123456789012",
                                  report=lambda _at, message, _hint: found.append(message))
    assert [p for p in found if problem is None or problem in p] == found
    assert bool(found) == (problem is not None)
    assert parsed.strategy == raw["strategy"]


def test_the_job_summary_shows_stages_gates_and_the_gate_that_failed() -> None:
    failed = Outcome("web", "ecs", "k", "sha256:1", False, True, True, "failed",
                     progress=("run_task passed: every essential container exited 0",
                               "smoke FAILED: GET /health answered 500",
                               "stages: SCALE_UP -> TEST_TRAFFIC_SHIFT", "failed gate: smoke"))
    quiet = Outcome("api", "ecs", "k", "sha256:2", False, True, True, "deployed")
    lines = delivery([failed, quiet])
    assert lines[1] == "| progressive delivery | status | gates and stages |"
    assert lines[3] == ("| web ecs | ❌ failed | run_task passed: every essential container "
                        "exited 0<br>smoke FAILED: GET /health answered 500<br>stages: "
                        "SCALE_UP -> TEST_TRAFFIC_SHIFT<br>failed gate: smoke |")
    assert len(lines) == 4  # the target without gates has no row
    assert delivery([quiet]) == []


def test_plan_entries_show_the_strategy_of_services_that_set_one() -> None:
    from release.config.model import EcsDeployment, Service, ServiceDeployment
    from release.planning.reconcile import Entry

    def dep(name: str, strategy: EcsStrategy | None) -> ServiceDeployment:
        service = Service(name=name, context=f"services/{name}", dockerfile="Dockerfile",
                          repository=name, platform="linux/amd64")
        return ServiceDeployment(service, ecs=EcsDeployment(cluster="c", service=name,
                                                             family=name, container=None,
                                                             deployment=strategy))

    deployments = {"web": dep("web", EcsStrategy(strategy="blue_green")), "api": dep("api", None)}
    entries = [Entry("web", "changed", "k1", "app/"), Entry("api", "changed", "k2")]
    shown = ecs_strategy.annotate(entries, deployments)
    assert [e.detail for e in shown] == ["app/; ecs: blue/green, bake 0 min", ""]
