"""The local ECS runtime's pure half: task definitions as Docker Engine API arguments (health
checks, environment and secrets, labels, the sandbox's network), inspect answers as ECS
states, awslogs stream names and ECS's reasons."""

from __future__ import annotations

from typing import Any

import pytest

from release.local.ecs import containers as args
from release.local.ecs.model import ContainerState, TaskSpec, Timing

ARN = "arn:aws:ecs:eu-west-1:123456789012:task/demo/0123456789abcdef0123456789abcdef"
NS = 1_000_000_000


def _spec(*definitions: dict[str, Any]) -> TaskSpec:
    return TaskSpec(task_arn=ARN, cluster="demo", service="web", deployment_id="ecs-svc/1",
                    task_definition={"family": "web", "containerDefinitions": list(definitions)})


APP = {
    "name": "app",
    "image": "127.0.0.1:18001/demo/app@sha256:" + "a" * 64,
    "environment": [{"name": "MODE", "value": "local"}, {"name": "TOKEN", "value": "plain"}],
    "secrets": [{"name": "TOKEN", "valueFrom": "/demo/token"}],
    "command": ["httpd", "-f", "-p", "8080"],
    "entryPoint": ["/bin/sh", "-c"],
    "workingDirectory": "/srv",
    "user": "65534",
    "portMappings": [{"containerPort": 8080, "hostPort": 8080}],
    "healthCheck": {"command": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ || exit 1"],
                    "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 30},
}


def test_container_args_join_the_sandbox_network_and_publish_nothing() -> None:
    made = args.container_args(_spec(APP), APP, secrets={"TOKEN": "s3cret"},
                               sandbox_id="sandbox123", plane="plane-1", timing=Timing())
    assert made["host_config"] == {"network_mode": "container:sandbox123"}
    assert "ports" not in made
    assert not any("port" in key for key in made["host_config"])
    assert made["image"] == APP["image"]
    assert made["command"] == ["httpd", "-f", "-p", "8080"]
    assert made["entrypoint"] == ["/bin/sh", "-c"]
    assert made["working_dir"] == "/srv"
    assert made["user"] == "65534"


def test_the_sandbox_has_no_network_but_loopback_and_runs_the_base_image() -> None:
    made = args.sandbox_args(_spec(APP), "plane-1")
    assert made["host_config"] == {"network_mode": "none"}
    assert made["image"] == "release-base/busybox:1"
    assert made["labels"][args.PLANE_LABEL] == "plane-1"
    assert made["labels"][args.TASK_LABEL] == ARN


def test_every_container_is_labelled_with_the_plane_and_the_task() -> None:
    made = args.container_args(_spec(APP), APP, secrets={}, sandbox_id="s", plane="plane-1",
                               timing=Timing())
    assert made["labels"]["dev.release.local.plane"] == "plane-1"
    assert made["labels"]["dev.release.local.task"] == ARN
    assert made["labels"]["com.amazonaws.ecs.container-name"] == "app"
    assert made["name"] == "ecs-web-app-0123456789abcdef0123456789abcdef"


def test_secrets_join_the_environment_and_win_over_a_plain_value() -> None:
    assert args.environment(APP, {"TOKEN": "s3cret"}) == ["MODE=local", "TOKEN=s3cret"]
    assert args.secret_sources(APP) == [("TOKEN", "/demo/token")]
    assert args.environment({"name": "x"}, {}) == []


def test_a_shell_health_check_keeps_its_string_and_scales_its_times() -> None:
    check = args.health_check(APP["healthCheck"], Timing(health_scale=0.1, min_health_interval=1))
    assert check == {
        "test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ || exit 1"],
        "interval": 1 * NS,  # 5 s * 0.1 = 0.5 s, raised to the minimum
        "timeout": 1 * NS,  # 0.2 s raised to the minimum, never above the interval
        "retries": 2,
        "start_period": 3 * NS,
    }


def test_an_exec_health_check_stays_in_exec_form_with_ecs_defaults() -> None:
    check = args.health_check({"command": ["CMD", "test", "-f", "/ready"]},
                              Timing(health_scale=0.5, min_health_interval=1))
    assert check is not None
    assert check["test"] == ["CMD", "test", "-f", "/ready"]
    assert check["interval"] == 15 * NS  # ECS's default 30 s
    assert check["timeout"] == int(2.5 * NS)  # ECS's default 5 s
    assert check["retries"] == 3
    assert check["start_period"] == 0


def test_the_timeout_never_exceeds_the_interval() -> None:
    check = args.health_check({"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 30},
                              Timing(health_scale=1.0, min_health_interval=1))
    assert check is not None
    assert (check["interval"], check["timeout"]) == (5 * NS, 5 * NS)


def test_no_health_check_means_no_docker_health_check() -> None:
    assert args.health_check(None, Timing()) is None
    made = args.container_args(_spec({"name": "a", "image": "x"}), {"name": "a", "image": "x"},
                               secrets={}, sandbox_id="s", plane="p", timing=Timing())
    assert "healthcheck" not in made
    assert "command" not in made


def test_registry_host_is_the_first_part_when_it_names_a_host() -> None:
    assert args.registry_host("127.0.0.1:18001/demo/app@sha256:ab") == "127.0.0.1:18001"
    assert args.registry_host("123.dkr.ecr.eu-west-1.amazonaws.com/app:1") == (
        "123.dkr.ecr.eu-west-1.amazonaws.com")
    assert args.registry_host("library/busybox") is None
    assert args.registry_host("busybox") is None


def test_a_missing_secret_reads_as_ecs_resource_initialization_error() -> None:
    ssm = args.missing_secret_reason("/demo/token")
    assert ssm.startswith("ResourceInitializationError: unable to pull secrets or registry auth")
    assert "parameter /demo/token does not exist" in ssm
    asm = args.missing_secret_reason("arn:aws:secretsmanager:eu-west-1:1:secret:db-AbCdEf")
    assert "asm" in asm
    assert "does not exist" in asm


def _inspect(status: str, health: str | None = None, code: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {"Status": status, "ExitCode": code, "Pid": 42, "Error": ""}
    if health:
        state["Health"] = {"Status": health}
    return {"State": state}


def test_inspect_answers_become_container_states() -> None:
    running = args.container_state(APP, "id1", args.inspected(_inspect("running", "healthy")))
    assert (running.last_status, running.health_status, running.exit_code) == (
        "RUNNING", "HEALTHY", None)
    exited = args.container_state(APP, "id1", args.inspected(_inspect("exited", code=3)))
    assert (exited.last_status, exited.exit_code) == ("STOPPED", 3)
    pending = args.container_state(APP, None, None)
    assert pending.last_status == "PENDING"
    assert args.inspected(_inspect("running")).pid == 42


def _state(name: str, status: str = "RUNNING", health: str = "UNKNOWN") -> ContainerState:
    return ContainerState(name=name, image="x", last_status=status,  # type: ignore[arg-type]
                          health_status=health)  # type: ignore[arg-type]


CHECKED = {"name": "a", "image": "x", "healthCheck": {"command": ["CMD", "true"]}}
PLAIN = {"name": "b", "image": "x"}
SIDECAR = {"name": "c", "image": "x", "essential": False,
           "healthCheck": {"command": ["CMD", "true"]}}


@pytest.mark.parametrize(("healths", "expected"), [
    (("HEALTHY", "UNKNOWN", "UNHEALTHY"), "HEALTHY"),  # b has no check, c is not essential
    (("UNHEALTHY", "UNKNOWN", "HEALTHY"), "UNHEALTHY"),
    (("UNKNOWN", "UNKNOWN", "HEALTHY"), "UNKNOWN"),  # a still starting
])
def test_task_health_comes_from_essential_containers_with_a_check(
    healths: tuple[str, str, str], expected: str
) -> None:
    defs = [CHECKED, PLAIN, SIDECAR]
    states = [_state(d["name"], health=h) for d, h in zip(defs, healths, strict=True)]
    assert args.task_health(defs, states) == expected


def test_a_task_without_health_checks_is_unknown() -> None:
    assert args.task_health([PLAIN], [_state("b")]) == "UNKNOWN"


def test_only_an_essential_container_that_stops_stops_the_task() -> None:
    defs = [PLAIN, SIDECAR]
    assert not args.essential_exited(defs, [_state("b"), _state("c", "STOPPED")])
    assert args.all_essential_running(defs, [_state("b"), _state("c", "STOPPED")])
    assert args.essential_exited(defs, [_state("b", "STOPPED"), _state("c")])
    assert not args.all_essential_running(defs, [_state("b", "PENDING"), _state("c")])


def test_awslogs_streams_are_named_as_ecs_names_them() -> None:
    logged = {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}}}
    assert args.awslogs_stream(logged, ARN) == (
        "/ecs/web", "web/app/0123456789abcdef0123456789abcdef")
    assert args.awslogs_stream({"name": "app"}, ARN) is None
    other = {"name": "app", "logConfiguration": {"logDriver": "json-file"}}
    assert args.awslogs_stream(other, ARN) is None


class _FakeEngine:
    """Just enough of ``docker.APIClient`` for the runtime's bookkeeping, no engine."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def create_container(self, **kwargs: Any) -> dict[str, str]:
        self.created[kwargs["name"]] = kwargs
        self.states[kwargs["name"]] = _inspect("created")
        return {"Id": kwargs["name"]}

    def start(self, runtime_id: str) -> None:
        self.states[runtime_id] = _inspect("running", "healthy")

    def inspect_container(self, runtime_id: str) -> dict[str, Any]:
        return self.states[runtime_id]

    def inspect_image(self, image: str) -> dict[str, Any]:
        return {}

    def info(self) -> dict[str, Any]:
        return {"NCPU": 2}

    def stop(self, runtime_id: str, timeout: int) -> None:
        if self.states[runtime_id]["State"]["Status"] == "running":
            self.states[runtime_id] = _inspect("exited", code=143)

    def kill(self, runtime_id: str, signal: str = "SIGKILL") -> None:
        self.stop(runtime_id, 0)

    def wait(self, runtime_id: str, timeout: float) -> dict[str, int]:
        return {"StatusCode": self.states[runtime_id]["State"]["ExitCode"]}

    def logs(self, runtime_id: str, **kwargs: Any) -> bytes:
        return b"one\ntwo\n"

    def remove_container(self, runtime_id: str, force: bool) -> None:
        self.removed.append(runtime_id)

    def containers(self, **kwargs: Any) -> list[dict[str, str]]:
        return []

    def close(self) -> None:
        pass


def _fake_runtime(monkeypatch: pytest.MonkeyPatch, engine: _FakeEngine) -> Any:
    from release.local.ecs.runtime import DockerRuntime

    monkeypatch.setattr(DockerRuntime, "_api", lambda self: engine)
    return DockerRuntime("unix:///nowhere", secret={"/demo/token": "s3cret"}.__getitem__,
                         registry_auth=lambda host: None, clock=lambda: 100.0,
                         timing=Timing(), plane="plane-1")


def _until(runtime: Any, arn: str, status: str) -> Any:
    import time

    for _ in range(500):
        state = runtime.poll(arn)
        if state.last_status == status:
            return state
        time.sleep(0.01)
    raise AssertionError(f"never {status}: {runtime.poll(arn)}")


def test_the_runtime_runs_stops_and_remembers_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _FakeEngine()
    runtime = _fake_runtime(monkeypatch, engine)
    runtime.start(_spec(APP))
    state = _until(runtime, ARN, "RUNNING")
    assert state.health_status == "HEALTHY"
    assert state.netns_pid == 42
    app = engine.created["ecs-web-app-0123456789abcdef0123456789abcdef"]
    assert "TOKEN=s3cret" in app["environment"]
    assert app["host_config"]["network_mode"] == "container:" + (
        "ecs-web-internalecspause-0123456789abcdef0123456789abcdef")
    runtime.stop(ARN, "UserInitiated", "by hand")
    state = _until(runtime, ARN, "STOPPED")
    assert (state.stop_code, state.stopped_reason) == ("UserInitiated", "by hand")
    assert state.containers[0].exit_code == 143
    assert len(engine.removed) == 2
    assert runtime.logs(ARN, "app", 1) == ["two"]
    runtime.close()


def test_an_exited_essential_container_stops_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _FakeEngine()
    runtime = _fake_runtime(monkeypatch, engine)
    runtime.start(_spec(APP))
    _until(runtime, ARN, "RUNNING")
    engine.states["ecs-web-app-0123456789abcdef0123456789abcdef"] = _inspect("exited", code=3)
    state = _until(runtime, ARN, "STOPPED")
    assert state.stop_code == "EssentialContainerExited"
    assert state.containers[0].exit_code == 3
    runtime.close()


def test_a_missing_secret_never_creates_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _FakeEngine()
    runtime = _fake_runtime(monkeypatch, engine)
    other = {**APP, "secrets": [{"name": "X", "valueFrom": "/demo/other"}]}
    runtime.start(_spec(other))
    state = _until(runtime, ARN, "STOPPED")
    assert state.stop_code == "TaskFailedToStart"
    assert "parameter /demo/other does not exist" in (state.stopped_reason or "")
    assert engine.created == {}
    runtime.close()
