"""Task-definition fields the local ECS runtime honours, end to end on real containers:
dependsOn (COMPLETE, HEALTHY, SUCCESS, startTimeout), a memory limit that OOM-kills, and
stopTimeout with shutdown in reverse dependency order.

A private local cloud (ports 16300..16302) holds one tiny image (``release-base/busybox:1``
with a page), built with BuildKit, pushed with the ECR token moto hands out and run by
digest, as a task definition names it. Durations are ECS's, scaled by ``Timing`` (0.1).
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from private_cloud import private_cloud

from release.local.base_images import BUSYBOX_IMAGE
from release.local.ecs import shapes, tasks_api
from release.local.ecs.containers import OUT_OF_MEMORY
from release.local.ecs.model import TaskSpec, TaskState, Timing
from release.local.ecs.runtime import DockerRuntime
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

DOCKER = "/usr/bin/docker"
BASE_PORT = 16300
DOCKERFILE = f"""\
FROM {BUSYBOX_IMAGE}
COPY www/ /www/
"""
SERVE = "httpd -f -p 8080 -h /www"
SERVING = {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
           "interval": 5, "timeout": 2, "retries": 2}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    with private_cloud(tmp_path_factory, BASE_PORT) as state:
        yield state


def _login(state: LocalState) -> tuple[str, str]:
    ecr = boto3.client("ecr", endpoint_url=state.aws_endpoint_url, region_name=state.region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
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
def image(cloud: LocalState, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``<registry>/e2e/task-fidelity@sha256:...``, pushed then removed from the engine."""
    context = tmp_path_factory.mktemp("fidelity-image")
    (context / "www").mkdir()
    (context / "www/index.html").write_text("up\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    env = {**os.environ, "DOCKER_HOST": cloud.docker_host, "DOCKER_BUILDKIT": "1",
           "DOCKER_CONFIG": str(tmp_path_factory.mktemp("docker-config"))}
    tag = f"{cloud.registry_host}/e2e/task-fidelity:{secrets.token_hex(4)}"
    _docker(env, "build", "--network", "host", "-t", tag, str(context))
    user, password = _login(cloud)
    _docker(env, "login", "-u", user, "--password-stdin", cloud.registry_host, stdin=password)
    _docker(env, "push", tag)
    digests = _docker(env, "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}",
                      tag)
    _docker(env, "rmi", tag)
    return next(line for line in digests.splitlines() if line.startswith(cloud.registry_host))


@pytest.fixture(scope="module")
def runtime(cloud: LocalState) -> Iterator[DockerRuntime]:
    login = _login(cloud)
    made = DockerRuntime(
        cloud.docker_host, secret=lambda value_from: "",
        registry_auth=lambda host: login if host == cloud.registry_host else None,
        clock=time.time, timing=Timing(), plane=f"e2e-fidelity-{secrets.token_hex(4)}")
    yield made
    made.close()


def _spec(image: str, *containers: dict[str, Any], **task: Any) -> TaskSpec:
    return TaskSpec(
        task_arn=f"arn:aws:ecs:eu-west-1:123456789012:task/e2e/{secrets.token_hex(16)}",
        cluster="e2e", service="", deployment_id="",
        task_definition={"family": "fidelity", "revision": 1, **task,
                         "containerDefinitions": [{"image": image, **c} for c in containers]})


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def _wait(runtime: DockerRuntime, arn: str, done: Callable[[TaskState], bool],
          timeout: float = 60) -> TaskState:
    deadline = time.monotonic() + timeout
    while True:
        state = runtime.poll(arn)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"task stuck: {state}"
        time.sleep(0.1)


def _container(state: TaskState, name: str) -> Any:
    return next(c for c in state.containers if c.name == name)


def _described(state: TaskState) -> dict[str, Any]:
    """DescribeTasks' answer for the task, held to botocore's shape."""
    answer = tasks_api.describe_tasks({"tasks": [state.spec.task_arn]},
                                      {state.spec.task_arn: state}, "eu-west-1", "123456789012")
    assert shapes.check_shape("DescribeTasks", answer) == []
    return dict(answer["tasks"][0])


def _inspect(cloud: LocalState, runtime_id: str) -> dict[str, Any]:
    import docker

    client = docker.APIClient(base_url=cloud.docker_host, timeout=30)
    try:
        return dict(client.inspect_container(runtime_id))
    finally:
        client.close()


def test_an_app_starts_only_once_its_sidecar_completed(
    runtime: DockerRuntime, image: str, cloud: LocalState
) -> None:
    spec = _spec(image,
                 {"name": "init", "essential": False, "command": _sh("sleep 1; echo seeded")},
                 {"name": "app", "command": _sh(f"exec {SERVE}"),
                  "dependsOn": [{"containerName": "init", "condition": "COMPLETE"}]})
    runtime.start(spec)
    running = _wait(runtime, spec.task_arn, lambda s: s.last_status == "RUNNING")
    init, app = _container(running, "init"), _container(running, "app")
    assert (init.last_status, init.exit_code) == ("STOPPED", 0)  # not essential: task runs on
    assert app.last_status == "RUNNING"
    finished = _inspect(cloud, str(init.runtime_id))["State"]["FinishedAt"]
    started = _inspect(cloud, str(app.runtime_id))["State"]["StartedAt"]
    assert started >= finished  # RFC 3339 times of one engine compare as strings
    assert _described(running)["lastStatus"] == "RUNNING"
    runtime.stop(spec.task_arn, "UserInitiated", "done")


def test_an_app_waits_for_a_healthy_dependency_sharing_its_loopback(
    runtime: DockerRuntime, image: str
) -> None:
    # the app exits 9 (stopping the task) if the proxy does not answer when it starts
    spec = _spec(image,
                 {"name": "proxy", "command": _sh(f"sleep 1; exec {SERVE}"),
                  "healthCheck": SERVING},
                 {"name": "app", "command": _sh("wget -q -O- http://127.0.0.1:8080/ || exit 9;"
                                                " exec sleep 600"),
                  "dependsOn": [{"containerName": "proxy", "condition": "HEALTHY"}]})
    runtime.start(spec)
    state = _wait(runtime, spec.task_arn,
                  lambda s: s.last_status == "STOPPED" or _container(s, "app").last_status
                  == "RUNNING")
    assert state.last_status == "RUNNING", state
    assert _container(state, "proxy").health_status == "HEALTHY"
    assert runtime.logs(spec.task_arn, "app", 5) == ["up"]
    runtime.stop(spec.task_arn, "UserInitiated", "done")


def test_an_unmet_dependency_stops_the_task_with_the_agents_reason(
    runtime: DockerRuntime, image: str
) -> None:
    failing = _spec(image,
                    {"name": "migrate", "essential": False, "command": _sh("exit 4")},
                    {"name": "app", "command": _sh("exec sleep 600"),
                     "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]})
    never_healthy = _spec(image,
                          {"name": "proxy", "command": _sh("exec sleep 600"), "startTimeout": 20,
                           "healthCheck": {"command": ["CMD", "false"], "interval": 5,
                                           "retries": 1}},
                          {"name": "app", "command": _sh("exec sleep 600"),
                           "dependsOn": [{"containerName": "proxy", "condition": "HEALTHY"}]})
    for spec in (failing, never_healthy):
        runtime.start(spec)
    stopped = _wait(runtime, failing.task_arn, lambda s: s.last_status == "STOPPED")
    assert stopped.stop_code == "TaskFailedToStart"
    assert stopped.stopped_reason == (
        "dependency graph: failed to resolve container ordering dependency [migrate] for "
        "target [app] as dependency did not exit successfully.")
    assert _container(stopped, "migrate").exit_code == 4
    assert _container(stopped, "app").runtime_id is None  # never created
    timed_out = _wait(runtime, never_healthy.task_arn, lambda s: s.last_status == "STOPPED")
    assert timed_out.stopped_reason == (
        "dependency graph: container ordering dependency [proxy] for target [app] has "
        "timed out.")
    assert _described(timed_out)["containers"][1]["reason"] == timed_out.stopped_reason


def test_a_container_over_its_memory_limit_is_killed_as_ecs_reports_it(
    runtime: DockerRuntime, image: str, cloud: LocalState
) -> None:
    spec = _spec(image, {"name": "hog", "memory": 16, "memoryReservation": 8, "cpu": 128,
                         "command": _sh("sleep 1; tail /dev/zero")},
                 cpu="256", memory="512")
    runtime.start(spec)
    running = _wait(runtime, spec.task_arn, lambda s: s.last_status == "RUNNING")
    host = _inspect(cloud, str(running.containers[0].runtime_id))["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (16 * 2**20, 16 * 2**20)
    assert host["MemoryReservation"] == 8 * 2**20
    assert (host["CpuShares"], host["NanoCpus"]) == (128, 250_000_000)
    stopped = _wait(runtime, spec.task_arn, lambda s: s.last_status == "STOPPED")
    hog = _described(stopped)["containers"][0]
    assert (hog["exitCode"], hog["reason"]) == (137, OUT_OF_MEMORY)
    assert (stopped.stop_code, stopped.stopped_reason) == (
        "EssentialContainerExited", "Essential container in task exited")


def test_stop_sends_sigterm_then_sigkill_after_stop_timeout_dependents_first(
    runtime: DockerRuntime, image: str
) -> None:
    # the app ignores SIGTERM; the proxy it depends on says, when told to stop, whether the
    # app still answers on their shared loopback
    app = _sh("trap '' TERM; httpd -f -p 8081 -h /www & while true; do sleep 1; done")
    proxy = _sh("trap 'if wget -q -O /dev/null http://127.0.0.1:8081/ 2>/dev/null; "
                "then echo app-up; else echo app-gone; fi; exit 0' TERM; "
                "while true; do sleep 1; done")
    spec = _spec(image, {"name": "proxy", "command": proxy},
                 {"name": "app", "command": app, "stopTimeout": 20,
                  "dependsOn": [{"containerName": "proxy", "condition": "START"}]})
    runtime.start(spec)
    _wait(runtime, spec.task_arn, lambda s: s.last_status == "RUNNING")
    runtime.stop(spec.task_arn, "UserInitiated", "Task stopped by the e2e test")
    stopping = runtime.poll(spec.task_arn)
    assert stopping.desired_status == "STOPPED"
    assert stopping.stopping_at is not None
    stopped = _wait(runtime, spec.task_arn, lambda s: s.last_status == "STOPPED")
    assert _container(stopped, "app").exit_code == 137  # SIGKILL after stopTimeout
    assert _container(stopped, "proxy").exit_code == 0  # SIGTERM, handled
    assert runtime.logs(spec.task_arn, "proxy", 5) == ["app-gone"]
    assert stopped.stopped_at is not None
    assert stopped.stopped_at - stopping.stopping_at >= Timing().container_seconds(20)
    described = _described(stopped)
    assert described["stoppingAt"] <= described["stoppedAt"]
