"""The local ECS runtime end to end: tasks as real containers on the local cloud's engine.

One tiny image (``release-base/busybox:1`` with a page and an ``httpd`` command) is built
with the Docker CLI and BuildKit, pushed to the local cloud's registry with the ECR token moto
hands out, and run by digest, as a task definition names it. Secrets come from moto's SSM;
awslogs output goes to a list.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from release.local.base_images import BUSYBOX_IMAGE
from release.local.ecs.containers import PLANE_LABEL
from release.local.ecs.model import TaskSpec, TaskState, Timing
from release.local.ecs.runtime import DockerRuntime
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

DOCKER = "/usr/bin/docker"
REPOSITORY = "e2e/local-tasks"
DOCKERFILE = f"""\
FROM {BUSYBOX_IMAGE}
COPY www/ /www/
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""
HTTPD = ["sh", "-c", "echo mode=$MODE token=$TOKEN; exec httpd -f -v -p 8080 -h /www"]
HEALTHY = {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
           "interval": 5, "timeout": 2, "retries": 2}


def _aws(state: LocalState) -> dict[str, Any]:
    return {"endpoint_url": state.aws_endpoint_url, "region_name": state.region,
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _ecr_login(state: LocalState) -> tuple[str, str]:
    ecr = boto3.client("ecr", **_aws(state))
    try:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    finally:
        ecr.close()
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def _docker(env: dict[str, str], *argv: str, stdin: str | None = None) -> str:
    done = subprocess.run([DOCKER, *argv], env=env, input=stdin, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, f"docker {argv[0]}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def image(local_cloud: LocalState, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``<registry>/e2e/local-tasks@sha256:...``: built with BuildKit, pushed with the CLI,
    then removed from the engine."""
    context = tmp_path_factory.mktemp("task-image")
    (context / "www").mkdir()
    (context / "www/index.html").write_text("hello from a task\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    env = {**os.environ, "DOCKER_HOST": local_cloud.docker_host, "DOCKER_BUILDKIT": "1",
           "DOCKER_CONFIG": str(tmp_path_factory.mktemp("docker-config"))}
    registry = local_cloud.registry_host
    tag = f"{registry}/{REPOSITORY}:{secrets.token_hex(4)}"
    _docker(env, "build", "--network", "host", "-t", tag, str(context))
    user, password = _ecr_login(local_cloud)
    _docker(env, "login", "-u", user, "--password-stdin", registry, stdin=password)
    _docker(env, "push", tag)
    digests = _docker(env, "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}",
                      tag)
    _docker(env, "rmi", tag)  # the first task pulls it, with the registry's credentials
    return next(line for line in digests.splitlines() if line.startswith(registry))


@pytest.fixture
def ssm(local_cloud: LocalState) -> Iterator[Any]:
    client = boto3.client("ssm", **_aws(local_cloud))
    yield client
    client.close()


@pytest.fixture
def shipped() -> list[tuple[str, str, list[str]]]:
    """What the runtime sent to "CloudWatch Logs"."""
    return []


@pytest.fixture
def runtime(local_cloud: LocalState, ssm: Any,
            shipped: list[tuple[str, str, list[str]]]) -> Iterator[DockerRuntime]:
    def secret(value_from: str) -> str:
        try:
            return str(ssm.get_parameter(Name=value_from, WithDecryption=True)
                       ["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            raise KeyError(value_from) from None

    login = _ecr_login(local_cloud)
    made = DockerRuntime(
        local_cloud.docker_host, secret=secret,
        registry_auth=lambda host: login if host == local_cloud.registry_host else None,
        clock=time.time, timing=Timing(), plane=f"e2e-{secrets.token_hex(4)}",
        put_logs=lambda group, stream, lines: shipped.append((group, stream, list(lines))),
        ship_seconds=0.5,
    )
    yield made
    made.close()


def _spec(*containers: dict[str, Any]) -> TaskSpec:
    task_id = secrets.token_hex(16)
    return TaskSpec(
        task_arn=f"arn:aws:ecs:eu-west-1:123456789012:task/e2e/{task_id}", cluster="e2e",
        service="web", deployment_id="ecs-svc/1",
        task_definition={"family": "web", "revision": 1, "containerDefinitions": list(containers)},
    )


def _wait(runtime: DockerRuntime, arn: str, done: Callable[[TaskState], bool],
          timeout: float = 60) -> TaskState:
    deadline = time.monotonic() + timeout
    while True:
        state = runtime.poll(arn)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"task stuck: {state}"
        time.sleep(0.1)


def _plane_containers(local_cloud: LocalState, plane: str) -> list[Any]:
    client = docker.DockerClient(base_url=local_cloud.docker_host, timeout=30)
    try:
        return list(client.containers.list(all=True, filters={"label": f"{PLANE_LABEL}={plane}"}))
    finally:
        client.close()


def _loopback_get(pid: int, url: str) -> str:
    """GET ``url`` from inside the task's network namespace (its own loopback)."""
    done = subprocess.run(["nsenter", "-t", str(pid), "-n", "wget", "-q", "-O-", url],
                          capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_httpd_task_with_a_passing_health_check_becomes_running_and_healthy(
    runtime: DockerRuntime, image: str, ssm: Any, local_cloud: LocalState
) -> None:
    ssm.put_parameter(Name="/e2e/tasks/token", Value="s3cret", Type="SecureString",
                      Overwrite=True)
    spec = _spec({"name": "web", "image": image, "command": HTTPD, "healthCheck": HEALTHY,
                  "environment": [{"name": "MODE", "value": "local"}],
                  "secrets": [{"name": "TOKEN", "valueFrom": "/e2e/tasks/token"}],
                  "portMappings": [{"containerPort": 8080}]})
    began = time.monotonic()
    runtime.start(spec)
    assert time.monotonic() - began < 0.5  # start returns at once
    running = _wait(runtime, spec.task_arn, lambda s: s.last_status == "RUNNING")
    to_running = time.monotonic() - began
    healthy = _wait(runtime, spec.task_arn, lambda s: s.health_status == "HEALTHY")
    print(f"start -> RUNNING {to_running:.2f}s, -> HEALTHY {time.monotonic() - began:.2f}s")
    assert running.netns_pid
    assert healthy.containers[0].runtime_id
    assert healthy.containers[0].health_status == "HEALTHY"
    assert "mode=local token=s3cret" in runtime.logs(spec.task_arn, "web", 100)
    if shutil.which("nsenter") and os.geteuid() == 0:
        assert _loopback_get(running.netns_pid, "http://127.0.0.1:8080/") == "hello from a task\n"
    inspected = _plane_containers(local_cloud, runtime.plane)
    assert len(inspected) == 2  # the sandbox and the container
    for container in inspected:
        assert container.attrs["HostConfig"]["PortBindings"] in ({}, None)
        assert container.attrs["HostConfig"]["NetworkMode"] != "bridge"


def test_an_essential_container_that_exits_stops_the_task_with_its_exit_code(
    runtime: DockerRuntime, image: str, shipped: list[tuple[str, str, list[str]]]
) -> None:
    logged = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web",
                                                  "awslogs-stream-prefix": "web"}}
    spec = _spec({"name": "job", "image": image, "logConfiguration": logged,
                  "command": ["sh", "-c", "echo working; sleep 1; echo bye; exit 3"]})
    runtime.start(spec)
    stopped = _wait(runtime, spec.task_arn, lambda s: s.last_status == "STOPPED")
    assert stopped.stop_code == "EssentialContainerExited"
    assert stopped.stopped_reason == "Essential container in task exited"
    assert stopped.containers[0].exit_code == 3
    assert stopped.containers[0].last_status == "STOPPED"
    assert stopped.desired_status == "STOPPED"
    assert runtime.logs(spec.task_arn, "job", 10) == ["working", "bye"]
    task_id = spec.task_arn.rsplit("/", 1)[-1]
    assert [line for group, stream, lines in shipped for line in lines
            if (group, stream) == ("/ecs/web", f"web/job/{task_id}")] == ["working", "bye"]


def test_a_failing_health_check_makes_the_task_unhealthy(
    runtime: DockerRuntime, image: str
) -> None:
    check = {"command": ["CMD", "test", "-f", "/nothing-here"], "interval": 5, "retries": 1}
    spec = _spec({"name": "web", "image": image, "healthCheck": check})
    runtime.start(spec)
    state = _wait(runtime, spec.task_arn, lambda s: s.health_status == "UNHEALTHY")
    assert state.last_status == "RUNNING"
    assert state.containers[0].health_status == "UNHEALTHY"


def test_a_missing_secret_fails_the_task_to_start(runtime: DockerRuntime, image: str) -> None:
    spec = _spec({"name": "web", "image": image,
                  "secrets": [{"name": "TOKEN", "valueFrom": "/e2e/tasks/not-there"}]})
    runtime.start(spec)
    state = _wait(runtime, spec.task_arn, lambda s: s.last_status == "STOPPED")
    assert state.stop_code == "TaskFailedToStart"
    assert state.stopped_reason is not None
    assert state.stopped_reason.startswith(
        "ResourceInitializationError: unable to pull secrets or registry auth: ")
    assert "/e2e/tasks/not-there does not exist" in state.stopped_reason
    assert state.containers[0].last_status == "STOPPED"


def test_a_digest_not_in_the_registry_cannot_be_pulled(
    runtime: DockerRuntime, image: str
) -> None:
    missing = image.partition("@")[0] + "@sha256:" + "0" * 64
    spec = _spec({"name": "web", "image": missing})
    runtime.start(spec)
    state = _wait(runtime, spec.task_arn, lambda s: s.last_status == "STOPPED")
    assert state.stop_code == "TaskFailedToStart"
    assert state.stopped_reason is not None
    assert state.stopped_reason.startswith("CannotPullContainerError: ")
    assert (state.containers[0].reason or "").startswith("CannotPullContainerError: ")


def test_stop_and_close_leave_no_container_of_the_plane(
    runtime: DockerRuntime, image: str, local_cloud: LocalState
) -> None:
    first, second = (_spec({"name": "web", "image": image, "command": HTTPD}) for _ in range(2))
    runtime.start(first)
    runtime.start(second)
    for spec in (first, second):
        _wait(runtime, spec.task_arn, lambda s: s.last_status == "RUNNING")
    began = time.monotonic()
    runtime.stop(first.task_arn, "UserInitiated", "Task stopped by the e2e test")
    assert time.monotonic() - began < 0.5
    stopped = _wait(runtime, first.task_arn, lambda s: s.last_status == "STOPPED")
    assert (stopped.stop_code, stopped.stopped_reason) == (
        "UserInitiated", "Task stopped by the e2e test")
    assert stopped.containers[0].exit_code is not None
    plane = runtime.plane
    assert len(_plane_containers(local_cloud, plane)) == 2  # the second task's
    runtime.close()
    assert _plane_containers(local_cloud, plane) == []
    assert runtime.poll(second.task_arn).last_status == "STOPPED"


def test_image_fixture_builds_from_the_base_image(image: str, local_cloud: LocalState) -> None:
    assert image.startswith(f"{local_cloud.registry_host}/{REPOSITORY}@sha256:")
    assert Path(DOCKER).is_file()
