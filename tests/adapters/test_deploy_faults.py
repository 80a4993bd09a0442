"""`release deploy` end to end over scripted clouds: faults moto and Docker cannot show.

The whole command runs (config, git, build keys, plan, build, push, apply, outcomes) on a
throw-away repository of five ECS services and one Lambda function. AWS is the scripted
fake of ``fakecloud`` (moto cannot fail a rollout or a Lambda update), Docker is the real
BuildKit session over a scripted docker CLI, and the registry is a tiny HTTP stub that
knows what was pushed. Each test asserts the exit code, the message, and what runs after.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_docker import BUILDER, DockerCli, RegistryStub
from fakecloud import Behaviour, FakeAws, FakeClock, FakeEc2, FakeEcs, FakeElb, FakeLambda

from release.adapters.build_output import BuildLog
from release.adapters.buildkit import Session
from release.commands import deploy
from release.local import sandbox

SERVICES = ("s1", "s2", "s3", "s4", "s5")
TASK = {"family": "x", "containerDefinitions": [{"name": "web", "image": "placeholder",
                                                 "essential": True, "memory": 128}]}


@dataclass
class World:
    """A repository, its fake cloud and engine, and a way to run the command."""

    root: Path
    ecs: FakeEcs
    lam: FakeLambda
    sdk: DockerCli
    clock: FakeClock
    log: list[str]
    ec2: FakeEc2 = field(default_factory=FakeEc2)

    def deploy(self, *services: str, allow_downgrade: bool = False) -> deploy.Result:
        aws = FakeAws(ecs=self.ecs, elbv2=FakeElb(), ec2=self.ec2, **{"lambda": self.lam})
        deps = deploy.Deps(aws=lambda _env: aws,
                           builds=lambda: Session(BUILDER, BuildLog(self.log.append), {},
                                                  self.sdk),
                           clock=self.clock, sleep=self.clock.sleep, log=self.log.append,
                           random=lambda: 0.5, environ=os.environ)
        return deploy.run(deploy.Options(self.root, "test", services,
                                         allow_downgrade=allow_downgrade), deps)

    def running(self, service: str) -> str:
        return self.ecs.running("c", service).rsplit("/", 1)[-1]


def _write_repo(root: Path, registry_host: str) -> None:
    services: dict[str, Any] = {}
    for name in SERVICES:
        (root / name).mkdir(parents=True)
        (root / name / "Dockerfile").write_text("FROM base\n")
        (root / name / "task.json").write_text(json.dumps(TASK))
        services[name] = {"context": name, "ecs": {"task_definition": f"{name}/task.json"}}
    (root / "worker").mkdir()
    (root / "worker" / "Dockerfile").write_text("FROM base\n")
    services["worker"] = {"context": "worker", "lambda": {}}
    (root / "release.yaml").write_text(json.dumps({"version": 1, "services": services}))
    (root / "environments").mkdir()
    (root / "environments" / "test.yaml").write_text(json.dumps({
        "name": "test",
        "aws": {"region": "eu-west-1", "account_id": "123456789012",
                "role_arn": "arn:aws:iam::123456789012:role/release"},
        "registry": {"type": "oci", "host": registry_host},
        "ecs": {"cluster": "c"},
        "services": {**{n: {"ecs": {"desired_count": 1, "deadline_seconds": 120}}
                        for n in SERVICES}, "worker": {}}}))
    sandbox.git(root, "init", "-q", "-b", "main")
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "first")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    registry = RegistryStub()
    root = tmp_path / "repo"
    _write_repo(root, registry.host)
    ecs = FakeEcs()
    for name in SERVICES:
        ecs.add_service("c", name, {**TASK, "family": f"test-{name}"})
    yield World(root, ecs, FakeLambda("test-worker", "old@sha256:0"), DockerCli(registry),
                FakeClock(), [])
    registry.stop()


def _by_service(result: deploy.Result) -> dict[str, deploy.Outcome]:
    return {o.service: o for o in result.outcomes}


def test_one_of_five_failing_rolls_it_back_while_four_succeed(world: World) -> None:
    world.ecs.behaviour["s3"].append(Behaviour(["IN_PROGRESS", "FAILED"]))
    result = world.deploy()
    assert result.exit_code == 1
    outcomes = _by_service(result)
    failed = outcomes["s3"]
    assert failed.status == "failed"
    assert "FAILED: tasks failed to start" in failed.message
    assert "rolled back to revision 1" in failed.message
    assert failed.rolled_back_to == "test-s3:1"
    assert "OutOfMemoryError" in (failed.hint or "")
    assert world.running("s3") == "test-s3:1"  # the previous version serves
    for name in ("s1", "s2", "s4", "s5"):
        assert outcomes[name].status == "deployed"
        assert outcomes[name].url == f"http://ec2-{name}.eu-west-1.compute.amazonaws.com"
        assert world.running(name) == f"test-{name}:2"
    assert outcomes["worker"].status == "deployed"
    assert world.lam.aliases["live"] == "2"
    text = result.to_text()
    assert "1 failed, 5 deployed" in text
    assert "rolled back to revision 1" in text
    outputs = result.github_outputs()
    assert outputs["service-url"].startswith("http://ec2-s")
    assert outputs["function-version"] == "2"
    # the first ECS service that serves: its new revision, never the failed one's
    first_ok = min(n for n in ("s1", "s2", "s4", "s5"))
    assert outputs["task-definition-arn"] == outcomes[first_ok].arn
    assert outputs["task-definition-arn"].endswith(f"task-definition/test-{first_ok}:2")


def test_a_release_and_its_no_op_rerun_cost_few_calls(world: World) -> None:
    """Five ECS services and a function: every call of a release, then of a no-op one."""
    first = world.deploy()
    assert first.exit_code == 0
    builds = [line for line in first.summary_markdown().splitlines()
              if line.startswith(("| image built", "| s1 | embedded", "| worker | embedded"))]
    assert len(builds) == 3  # the table of images built, one row per service
    assert json.loads(first.to_json())["data"]["results"][0]["build"]["builder"] == "embedded"
    ops = [op for op, _ in world.ecs.calls]
    planning = Counter(ops[:ops.index("register_task_definition")])
    assert planning == {"describe_services": 1,  # the five in one call
                        "describe_task_definition": 5}  # each family's newest: the running one
    # (how many polls share a DescribeServices depends on thread timing on a fake clock)
    assert Counter(op for op in ops if op != "describe_services") == {
        "describe_task_definition": 5, "register_task_definition": 5, "update_service": 5,
        "list_tasks": 1, "describe_tasks": 1}  # the URLs: the cluster's tasks, once
    assert [op for op, _ in world.ec2.calls] == ["describe_network_interfaces"]
    assert [op for op, _ in world.lam.calls] == [
        "get_function", "get_function",  # the function, and its alias
        "update_function_code", "get_function_configuration",  # until Successful
        "publish_version", "update_alias", "tag_resource"]
    world.ecs.calls.clear()
    world.lam.calls.clear()
    world.ec2.calls.clear()

    result = world.deploy()
    assert {o.status for o in result.outcomes} == {"unchanged"}
    assert Counter(op for op, _ in world.ecs.calls) == {
        "describe_services": 1, "describe_task_definition": 5,
        "list_tasks": 1, "describe_tasks": 1}  # reads only: the URLs, reported every time
    assert [op for op, _ in world.ec2.calls] == ["describe_network_interfaces"]
    assert all(o.url for o in result.outcomes if o.target == "ecs")
    assert [op for op, _ in world.lam.calls] == ["get_function", "get_function"]


def test_a_rerun_after_a_failure_completes_the_release(world: World) -> None:
    world.ecs.behaviour["s3"].append(Behaviour(["FAILED"]))
    assert world.deploy().exit_code == 1
    registered = world.ecs.count("register_task_definition")

    result = world.deploy()
    assert result.exit_code == 0
    outcomes = _by_service(result)
    assert outcomes["s3"].status == "deployed"
    assert outcomes["s3"].registered is False  # revision 2 already matched: reused
    assert world.ecs.count("register_task_definition") == registered
    assert {o.status for n, o in outcomes.items() if n != "s3"} == {"unchanged"}
    assert world.sdk.built.count("s3") == 1  # the image was not built again
    assert all(world.running(n) == f"test-{n}:2" for n in SERVICES)


def test_docker_build_failure_fails_that_service_only(world: World) -> None:
    world.sdk.fail_build.add("s2")
    result = world.deploy()
    assert result.exit_code == 1
    failed = _by_service(result)["s2"]
    assert failed.status == "failed"
    assert "docker build failed" in failed.message
    assert "make: *** [all] Error 2" in failed.message
    assert "fix the Dockerfile" in (failed.hint or "")
    assert world.running("s2") == "test-s2:1"
    assert all(world.running(n) == f"test-{n}:2" for n in SERVICES if n != "s2")


def test_registry_push_interrupted_then_rerun(world: World) -> None:
    world.sdk.interrupt_push.add("s4")
    result = world.deploy()
    assert result.exit_code == 1
    failed = _by_service(result)["s4"]
    assert "push of" in failed.message
    assert "connection reset by peer" in failed.message
    assert "rerunning the release" in (failed.hint or "")
    assert world.running("s4") == "test-s4:1"
    assert not any(kw.get("family") == "test-s4" for op, kw in world.ecs.calls
                   if op == "register_task_definition")

    world.sdk.interrupt_push.clear()
    again = world.deploy()
    assert again.exit_code == 0
    assert _by_service(again)["s4"].status == "deployed"
    assert world.running("s4") == "test-s4:2"


def test_lambda_update_failed_keeps_the_alias(world: World) -> None:
    world.lam.after_update = ["InProgress", "Failed"]
    result = world.deploy("worker")
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert outcome.status == "failed"
    assert "Lambda update of test-worker failed: The image manifest" in outcome.message
    assert world.lam.aliases["live"] == "1"


def test_deadline_reached_rolls_back(world: World) -> None:
    world.ecs.behaviour["s1"].append(Behaviour(["IN_PROGRESS"] * 1000))
    result = world.deploy("s1")
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert "not complete after 120s" in outcome.message
    assert outcome.rolled_back_to == "test-s1:1"
    assert world.running("s1") == "test-s1:1"


def _tag_running(world: World, service: str, commit: str) -> None:
    arn = world.ecs.running("c", service)
    world.ecs.tags[arn] = [{"key": "release:source-commit", "value": commit}]


def test_an_older_commit_is_refused_unless_allowed(world: World) -> None:
    first = sandbox.git(world.root, "rev-parse", "HEAD")
    (world.root / "s1" / "Dockerfile").write_text("FROM base\nRUN true\n")
    sandbox.git(world.root, "commit", "-qam", "newer")
    newer = sandbox.git(world.root, "rev-parse", "HEAD")
    sandbox.git(world.root, "reset", "-q", "--hard", first)  # the throw-away repo only
    _tag_running(world, "s1", newer)

    refused = world.deploy("s1")
    assert refused.exit_code == 1
    [outcome] = refused.outcomes
    assert f"refusing to deploy commit {first[:12]}: it is older than the running " \
           f"{newer[:12]}" in outcome.message
    assert "--allow-downgrade" in (outcome.hint or "")
    assert world.running("s1") == "test-s1:1"
    assert world.sdk.built == []  # refused at plan time: nothing built

    allowed = world.deploy("s1", allow_downgrade=True)
    assert allowed.exit_code == 0
    assert world.running("s1") == "test-s1:2"


def test_a_running_commit_unknown_here_is_not_refused(world: World) -> None:
    _tag_running(world, "s1", "f" * 40)
    result = world.deploy("s1")
    assert result.exit_code == 0
    assert any("is not in the local history" in line for line in world.log)


def test_a_newer_commit_is_deployed(world: World) -> None:
    _tag_running(world, "s1", sandbox.git(world.root, "rev-parse", "HEAD"))
    (world.root / "s1" / "Dockerfile").write_text("FROM base\nRUN true\n")
    sandbox.git(world.root, "commit", "-qam", "newer")
    assert world.deploy("s1").exit_code == 0
    assert not any("note:" in line for line in world.log)
