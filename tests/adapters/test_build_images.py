"""`release build` over a scripted docker CLI and a registry stub: build once, reuse after.

The command runs whole (config, git, build keys, registry lookups, build, push) on a
throw-away repository of three image services and one that only publishes files. Docker is
the real BuildKit session over a scripted CLI runner; the registry is an HTTP stub on
127.0.0.1 that knows what was pushed and records who asked. AWS, when the registry is ECR,
is a fake that hands out the ECR client only: any other client asked for fails the test.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_docker import BUILDER, DockerCli, RegistryStub
from fakecloud import FakeAws, FakeClock

from release.adapters import github as gh
from release.adapters.build_output import BuildLog
from release.adapters.buildkit import Session
from release.commands import build
from release.commands.deploy import Deps
from release.errors import ReleaseError, UsageError
from release.local import sandbox

IMAGES = ("api", "web", "worker")


class EcrOnly(FakeAws):
    """AWS for a build: the ECR client, and a record of every client asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def client(self, name: str) -> Any:
        self.asked.append(name)
        if name != "ecr":
            raise AssertionError(f"release build asked for the {name} client")
        token = base64.b64encode(b"AWS:ecr-token").decode()

        class Ecr:
            def get_authorization_token(self) -> dict[str, Any]:
                return {"authorizationData": [{"authorizationToken": token}]}

        return Ecr()


@dataclass
class World:
    root: Path
    registry: RegistryStub
    cli: DockerCli
    aws: EcrOnly
    log: list[str]
    docker_down: bool = False
    sessions: list[Session] = field(default_factory=list)

    def build(self, *services: str, builds: int = 0) -> build.Result:
        def session() -> Session:
            if self.docker_down:
                raise ReleaseError("cannot reach the Docker engine", "start dockerd")
            self.sessions.append(Session(BUILDER, BuildLog(self.log.append), {},
                                         self.cli))
            return self.sessions[-1]

        clock = FakeClock()
        deps = Deps(aws=lambda _env: self.aws, builds=session, clock=clock, sleep=clock.sleep,
                    log=self.log.append, environ=os.environ)
        return build.run(build.Options(self.root, "test", services, builds=builds), deps)


def _write_repo(root: Path, registry: dict[str, str]) -> None:
    services: dict[str, Any] = {}
    for name in IMAGES:
        (root / name).mkdir(parents=True)
        (root / name / "Dockerfile").write_text(f"FROM base\nLABEL name={name}\n")
        (root / name / "task.json").write_text(json.dumps({"family": "x", "containerDefinitions": [
            {"name": "app", "image": "placeholder", "essential": True, "memory": 128}]}))
        services[name] = {"context": name, "ecs": {"task_definition": f"{name}/task.json"}}
    (root / "files").mkdir()
    (root / "files" / "model.csv").write_text("a,b\n")
    services["model"] = {"context": "files", "s3_files": [{"source": "files", "key": "m/"}]}
    (root / "release.yaml").write_text(json.dumps({"version": 1, "services": services}))
    (root / "environments").mkdir()
    (root / "environments" / "test.yaml").write_text(json.dumps({
        "name": "test",
        "aws": {"region": "eu-west-1", "account_id": "123456789012",
                "role_arn": "arn:aws:iam::123456789012:role/release"},
        "registry": registry, "ecs": {"cluster": "c"}, "s3": {"bucket": "bucket-of-test"},
        "services": {**{n: {} for n in IMAGES}, "model": {}}}))
    sandbox.git(root, "init", "-q", "-b", "main")
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "first")


def _world(tmp_path: Path, registry_type: str) -> Iterator[World]:
    stub = RegistryStub()
    root = tmp_path / "repo"
    _write_repo(root, {"type": registry_type, "host": stub.host})
    yield World(root, stub, DockerCli(stub), EcrOnly(), [])
    stub.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, "oci")


@pytest.fixture
def ecr_world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, "ecr")


def _by_service(result: build.Result) -> dict[str, build.Image]:
    return {i.service: i for i in result.images}


def test_first_run_builds_and_pushes_each_image_once_then_reuses(world: World) -> None:
    first = world.build()
    assert first.exit_code == 0
    assert sorted(world.cli.built) == sorted(IMAGES)
    images = _by_service(first)
    assert {i.status for i in images.values()} == {"built"}
    assert first.without_image == ("model",)
    for name, image in images.items():
        assert world.registry.pushed[f"{name}:{image.build_key}"] == image.digest
    assert len({i.build_key for i in images.values()}) == 3  # one key per service

    second = world.build()
    assert second.exit_code == 0
    assert sorted(world.cli.built) == sorted(IMAGES)  # nothing built again
    assert {n: (i.status, i.digest) for n, i in _by_service(second).items()} == {
        n: ("reused", i.digest) for n, i in images.items()}
    assert "3 reused" in second.to_text()


def test_a_changed_service_alone_is_built(world: World) -> None:
    before = _by_service(world.build())
    (world.root / "web" / "Dockerfile").write_text("FROM base\nRUN true\n")
    sandbox.git(world.root, "commit", "-qam", "change web")
    after = _by_service(world.build())
    assert world.cli.built.count("web") == 2
    assert world.cli.built.count("api") == 1
    assert after["web"].status == "built"
    assert after["web"].build_key != before["web"].build_key
    assert after["api"] == build.Image("api", "api", before["api"].build_key,
                                       before["api"].digest, "reused")


def test_a_failed_build_fails_that_service_while_the_others_complete(world: World) -> None:
    world.cli.fail_build.add("api")
    result = world.build()
    assert result.exit_code == 1
    images = _by_service(result)
    assert images["api"].status == "failed"
    assert images["api"].digest is None
    assert "make: *** [all] Error 2" in images["api"].message  # the failing step's output
    assert images["api"].message.startswith("build: ")
    assert {images["web"].status, images["worker"].status} == {"built"}
    outputs = result.github_outputs()
    assert json.loads(outputs["digests"]).keys() == {"web", "worker"}
    text = result.to_text()
    assert text.splitlines()[2].startswith("api")  # failures first
    assert "1 failed" in text
    summary = result.summary_markdown()
    assert "| api | ❌ failed |" in summary
    assert "**api**: build:" in summary


def test_no_docker_engine_fails_only_what_must_be_built(world: World) -> None:
    world.build("api")
    world.docker_down = True
    result = world.build()
    images = _by_service(result)
    assert images["api"].status == "reused"
    assert {images["web"].status, images["worker"].status} == {"failed"}
    assert images["web"].message == "build: cannot reach the Docker engine"
    assert images["web"].hint == "start dockerd"
    assert result.exit_code == 1


def test_outputs_for_one_service_and_for_many(world: World, tmp_path: Path) -> None:
    one = world.build("worker")
    [image] = one.images
    outputs = one.github_outputs()
    assert outputs == {"digests": json.dumps({"worker": f"worker@{image.digest}"},
                                             separators=(",", ":")),
                       "digest": image.digest, "image": f"worker@{image.digest}"}
    assert world.registry.host not in json.dumps(outputs)  # no host, no account id
    many = world.build().github_outputs()
    assert set(many) == {"digests"}
    assert sorted(json.loads(many["digests"])) == sorted(IMAGES)
    written = tmp_path / "github_output"
    gh.write_outputs(written, outputs)
    assert f"digest={image.digest}\n" in written.read_text()
    data = json.loads(one.to_json())
    assert data["kind"] == "build"
    assert data["data"]["images"][0]["reference"] == f"worker@{image.digest}"


def test_unknown_service_is_a_usage_error_with_did_you_mean(world: World) -> None:
    with pytest.raises(UsageError) as caught:
        world.build("wrker")
    assert caught.value.hint == "did you mean 'worker'?"
    assert world.cli.built == []
    assert world.registry.heads == []


def test_an_ecr_registry_needs_the_ecr_login_and_nothing_else(ecr_world: World) -> None:
    result = ecr_world.build("api", "web")
    assert result.exit_code == 0
    assert ecr_world.aws.asked == ["ecr"]  # one login; no ECS, Lambda or STS client
    expected = "Basic " + base64.b64encode(b"AWS:ecr-token").decode()
    assert {auth for _, auth in ecr_world.registry.heads} == {expected}
    [(argv, stdin)] = ecr_world.cli.logins  # one login for the registry, both images
    assert stdin == "ecr-token"  # on stdin, never on the command line
    assert "--password-stdin" in argv
    assert not any("ecr-token" in word for call in ecr_world.cli.calls for word in call)
    assert not any("ecr-token" in line for line in ecr_world.log)


def test_an_oci_registry_needs_no_aws_at_all(world: World) -> None:
    assert world.build().exit_code == 0
    assert world.aws.asked == []
    assert world.cli.logins == []  # no credentials: no docker login


def test_builds_report_builder_cache_size_and_tags_and_clean_up(world: World) -> None:
    world.cli.cached = True
    result = world.build("api", builds=2)
    [image] = result.images
    assert image.build is not None
    assert (image.build.builder, image.build.cached, image.build.steps) == ("embedded", 2, 2)
    assert image.build.size == 1985609
    assert image.build.tags == (f"{world.registry.host}/api:{image.build_key}",)
    assert image.build.platforms == ("linux/amd64",)
    pushed = [call[2] for call in world.cli.calls if call[1] == "push"]
    assert pushed == [f"{world.registry.host}/api:{image.build_key}",
                      f"{world.registry.host}/api:buildcache"]
    assert "api | #5 CACHED" in world.log  # streamed, prefixed by the service
    assert "embedded" in result.to_text()
    assert "2/2" in result.to_text()
    assert "| embedded | linux/amd64 | 2/2 | 2.0 MB |" in result.summary_markdown()
    assert not world.sessions[0].config.exists()  # the private DOCKER_CONFIG is gone


def test_an_interrupted_push_fails_that_image_with_the_fix(world: World) -> None:
    world.cli.interrupt_push.add("web")
    images = _by_service(world.build())
    assert images["web"].status == "failed"
    assert "push of" in images["web"].message
    assert "connection reset" in images["web"].message
    assert "rerunning" in (images["web"].hint or "")
    assert {images["api"].status, images["worker"].status} == {"built"}


def test_build_secrets_go_as_secrets_and_their_values_never_reach_the_log(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.loads((world.root / "release.yaml").read_text())
    config["services"]["api"]["build_secrets"] = {"npm_token": {"env": "NPM_TOKEN"},
                                                  "pip_conf": {"file": "secrets/pip.conf"}}
    (world.root / "release.yaml").write_text(json.dumps(config))
    (world.root / "secrets").mkdir()
    (world.root / "secrets" / "pip.conf").write_text("[global]\nindex-url = https://u:pipsecret42@x\n")
    sandbox.git(world.root, "add", "-A")
    sandbox.git(world.root, "commit", "-qm", "secrets")
    monkeypatch.setenv("NPM_TOKEN", "npm-token-value-123")
    world.cli.leak_secrets = True
    result = world.build("api")
    assert result.exit_code == 0, result.to_text()
    build = next(call for call in world.cli.calls if call[1] == "build")
    secrets = [build[i + 1] for i, word in enumerate(build) if word == "--secret"]
    assert secrets[0] == "id=npm_token,env=NPM_TOKEN"
    assert secrets[1].startswith("id=pip_conf,src=")
    assert "npm-token-value-123" not in " ".join(build)
    assert not any("--build-arg" in word and "TOKEN" in word for word in build)
    logged = "\n".join(world.log)
    assert "api | #7 0.1 the secret is ***" in logged
    assert "npm-token-value-123" not in logged
    assert "pipsecret42" not in logged
    assert "pipsecret42" not in result.to_json() + result.summary_markdown()
