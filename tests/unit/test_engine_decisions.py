"""The engine's decisions, as tables: a Plan's steps from what runs (observed) and what is
wanted, per target kind, with no cloud and no file read (the task definition's rendering is
replaced by the body each case wants)."""

from __future__ import annotations

import copy
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from release.adapters.aws.ecs import ServiceState
from release.adapters.aws.lambda_ import FunctionState
from release.adapters.azure.container_apps import Running
from release.config.model import (
    TARGET_KINDS,
    AzureAppDeployment,
    AzureAppTarget,
    EcsDeployment,
    EcsTarget,
    LambdaDeployment,
    LambdaTarget,
    Service,
    ServiceDeployment,
)
from release.engine import plan as engine_plan
from release.engine import targets
from release.engine.targets import Wanted, azure_app, ecs, lambda_
from release.planning import plan, recorded

IMAGE = "reg.example/web@sha256:" + "1" * 64
OLDER = "reg.example/web@sha256:" + "0" * 64
ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/dev-web:{}"
BODY: dict[str, Any] = {
    "family": "dev-web", "cpu": "256", "memory": "512", "networkMode": "awsvpc",
    "containerDefinitions": [{"name": "web", "image": IMAGE, "environment": [
        {"name": "LEVEL", "value": "info"}]}],
}
TAGS = {recorded.BUILD_KEY_TAG: "k1"}


def changed(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    body.update(fields)
    return body


def with_env(level: str) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    body["containerDefinitions"][0]["environment"] = [{"name": "LEVEL", "value": level}]
    return body


def ecs_seen(running: dict[str, Any], latest: dict[str, Any] | None = None) -> ecs.Seen:
    state = ServiceState(ARN.format(3), running, TAGS, 1, 1)
    return ecs.Seen(state, plan.Revision(ARN.format(4), latest, TAGS) if latest else None)


def dep() -> ServiceDeployment:
    service = Service("web", ".", "Dockerfile", "web", "linux/amd64",
                      ecs=EcsTarget("task.json"), lambda_=LambdaTarget(),
                      azure_container_app=AzureAppTarget())
    return ServiceDeployment(
        service, ecs=EcsDeployment("c", "web", "dev-web", "web"),
        lambda_=LambdaDeployment("dev-web", environment={"LEVEL": "info"}),
        azure_container_app=AzureAppDeployment("web", "rg", None))


@pytest.fixture
def desired(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The body the ECS kind renders; each case sets it."""
    wanted: dict[str, Any] = {}

    def render(_ctx: Any, _dep: Any, want: Wanted) -> dict[str, Any]:
        body = copy.deepcopy(wanted["body"])
        body["containerDefinitions"][0]["image"] = want.image
        return {**body, "tags": [{"key": k, "value": v} for k, v in TAGS.items()]}

    monkeypatch.setattr(ecs, "desired_task_definition", render)
    return wanted


@pytest.mark.parametrize("case", [
    (BODY, BODY, None, IMAGE, "none", "up to date"),
    (BODY, BODY, None, None, "register", "new image"),
    (changed(memory="1024"), BODY, None, IMAGE, "register", "differs: memory 512 -> 1024"),
    (with_env("debug"), BODY, None, IMAGE, "register",
     "differs: containerDefinitions[web].environment.LEVEL info -> debug"),
    (BODY, BODY, None, OLDER, "register", "differs: containerDefinitions[web].image changed"),
    (changed(memory="1024"), BODY, changed(memory="1024"), IMAGE, "update",
     "service runs another revision; 4 already matches"),
    (changed(memory="2048"), BODY, changed(memory="1024"), IMAGE, "register",
     "differs: memory 512 -> 2048"),
])
def test_ecs_decisions(desired: dict[str, Any], case: tuple[Any, ...]) -> None:
    wanted, running, latest, image, action, reason = case
    desired["body"] = wanted
    seen = MappingProxyType({"ecs": ecs_seen(running, latest)})
    decision = ecs.KIND.decide(SimpleNamespace(), dep(), seen, Wanted(image, "k1"))  # type: ignore[arg-type]
    assert (decision.step.action, decision.step.reason) == (action, reason)


def function(alias_image: str | None, function_image: str | None,
             environment: dict[str, str]) -> FunctionState:
    return FunctionState("arn:aws:lambda:eu-west-1:123456789012:function:dev-web",
                         function_image, "3", alias_image, {}, environment)


@pytest.mark.parametrize(("seen", "image", "action", "reason"), [
    (function(IMAGE, IMAGE, {"LEVEL": "info"}), IMAGE, "none", "up to date"),
    (function(IMAGE, IMAGE, {"LEVEL": "info"}), None, "deploy", "new image"),
    (function(OLDER, IMAGE, {"LEVEL": "info"}), IMAGE, "deploy",
     "alias points at an older version"),
    (function(OLDER, OLDER, {"LEVEL": "info"}), IMAGE, "deploy", "function runs another image"),
    (function(IMAGE, IMAGE, {"LEVEL": "debug"}), IMAGE, "deploy",
     "environment variables differ"),
])
def test_lambda_decisions(seen: FunctionState, image: str | None, action: str,
                          reason: str) -> None:
    decision = lambda_.KIND.decide(SimpleNamespace(), dep(),  # type: ignore[arg-type]
                                   MappingProxyType({"lambda": seen}), Wanted(image, "k1"))
    assert (decision.step.action, decision.step.reason) == (action, reason)
    if image is not None:
        assert decision.desired == {"image": image, "environment": {"LEVEL": "info"}}


@pytest.mark.parametrize(("running", "image", "action"), [
    (IMAGE, IMAGE, "none"),
    (OLDER, IMAGE, "deploy"),
    (None, IMAGE, "deploy"),
    (IMAGE, None, "deploy"),
])
def test_container_app_decisions(running: str | None, image: str | None, action: str) -> None:
    seen = MappingProxyType({"azure_container_app": Running(running, "web--1")})
    decision = azure_app.KIND.decide(SimpleNamespace(), dep(), seen,  # type: ignore[arg-type]
                                     Wanted(image, "k1"))
    assert decision.step.action == action


def test_the_table_has_one_kind_per_target_kind_in_deploy_order() -> None:
    assert [kind.name for kind in targets.KINDS] == list(TARGET_KINDS)
    assert [k.name for k in targets.of(("s3_files", "ecs", "lambda"))] == [
        "ecs", "lambda", "s3_files"]


def test_a_plan_decides_every_target_of_a_service_from_what_it_runs(
        desired: dict[str, Any]) -> None:
    desired["body"] = changed(memory="1024")
    deployment = dep()
    seen = MappingProxyType({
        "ecs": ecs_seen(BODY),
        "lambda": function(IMAGE, IMAGE, {"LEVEL": "info"}),
        "azure_container_app": Running(OLDER, "web--1"),
    })
    image = plan.ImageStep("web", "web", "k1", IMAGE.rsplit("@", 1)[1])
    env = SimpleNamespace(registry_of=lambda _d: SimpleNamespace(host="reg.example"))
    ctx = SimpleNamespace(env=env)
    planned = engine_plan.decide(ctx, engine_plan.ServicePlan(  # type: ignore[arg-type]
        deployment, image, seen))
    assert [(s.target, s.action) for s in planned.steps] == [
        ("ecs", "register"), ("lambda", "none"), ("azure_container_app", "deploy")]
    assert planned.targets[0].decision.current.arn == ARN.format(3)
    assert planned.targets[0].decision.desired["memory"] == "1024"


@pytest.mark.parametrize(("tags", "expected"), [
    ({recorded.SOURCE_COMMIT_TAG: "a" * 40}, {"ecs": "a" * 40}),
    ({recorded.SOURCE_COMMIT_TAG: "not a commit"}, {}),
    ({}, {}),
])
def test_running_commits_come_from_the_kinds(tags: dict[str, str],
                                             expected: dict[str, str]) -> None:
    state = ServiceState(ARN.format(3), BODY, tags, 1, 1)
    svc = engine_plan.ServicePlan(dep(), None, MappingProxyType({"ecs": ecs.Seen(state, None)}),
                                  (engine_plan.TargetPlan(ecs.KIND, targets.Decision(
                                      plan.TargetStep("web", "ecs", "none", "up to date"))),))
    assert engine_plan.running_commits(svc) == expected
