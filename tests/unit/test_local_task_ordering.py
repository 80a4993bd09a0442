"""The local ECS runtime's task-definition fidelity, pure: dependsOn decisions (which container
starts when, which never will and why), shutdown order, stopTimeout and startTimeout scaled
by Timing, cpu/memory and Linux options as Docker arguments, and the startup loop on a fake
engine with an injected clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from release.local.ecs import container_options as options
from release.local.ecs import ordering, startup
from release.local.ecs.containers import OUT_OF_MEMORY, container_state, inspected
from release.local.ecs.launching import StartFailedError
from release.local.ecs.model import ContainerState, TaskSpec, Timing

TIMING = Timing()
ARN = "arn:aws:ecs:eu-west-1:123456789012:task/demo/0123456789abcdef0123456789abcdef"
CHECK = {"command": ["CMD", "true"]}


def _dep(name: str, condition: str) -> dict[str, Any]:
    return {"containerName": name, "condition": condition}


INIT = {"name": "init", "image": "x", "essential": False, "startTimeout": 30}
PROXY = {"name": "proxy", "image": "x", "healthCheck": CHECK, "startTimeout": 10}
APP = {"name": "app", "image": "x", "dependsOn": [_dep("init", "SUCCESS"),
                                                   _dep("proxy", "HEALTHY")]}


def _seen(name: str, status: str = "RUNNING", health: str = "UNKNOWN",
          code: int | None = None) -> ContainerState:
    return ContainerState(name=name, image="x", last_status=status,  # type: ignore[arg-type]
                          health_status=health, exit_code=code)  # type: ignore[arg-type]


def _step(seen: Mapping[str, ContainerState], started: Mapping[str, float], now: float,
          given_up: Mapping[str, str] | None = None) -> ordering.Step:
    return ordering.step([INIT, PROXY, APP],
                         ordering.Round(seen, started, given_up or {}, now, TIMING))


BOTH = {"init": 0.0, "proxy": 0.0}


@pytest.mark.parametrize(("seen", "now", "start", "failed"), [
    # nothing started: the two without dependencies start together
    ({}, 0.0, ("init", "proxy"), {}),
    # init still running, proxy not yet healthy: wait
    ({"init": _seen("init"), "proxy": _seen("proxy")}, 0.5, (), {}),
    # init exited 0 and proxy healthy: the app starts
    ({"init": _seen("init", "STOPPED", code=0), "proxy": _seen("proxy", health="HEALTHY")},
     0.5, ("app",), {}),
    # init exited 0 but proxy only starting: wait
    ({"init": _seen("init", "STOPPED", code=0), "proxy": _seen("proxy")}, 0.5, (), {}),
    # SUCCESS dependency exited 2: the app never starts
    ({"init": _seen("init", "STOPPED", code=2), "proxy": _seen("proxy", health="HEALTHY")},
     0.5, (), {"app": "dependency graph: failed to resolve container ordering dependency "
                      "[init] for target [app] as dependency did not exit successfully."}),
    # proxy unhealthy past its startTimeout (10 s, scaled to 1 s): timed out
    ({"init": _seen("init", "STOPPED", code=0), "proxy": _seen("proxy", health="UNHEALTHY")},
     1.5, (), {"app": "dependency graph: container ordering dependency [proxy] for target "
                      "[app] has timed out."}),
    # ... not before it
    ({"init": _seen("init", "STOPPED", code=0), "proxy": _seen("proxy", health="UNHEALTHY")},
     0.9, (), {}),
])
def test_depends_on_decides_who_starts_when(seen: dict[str, ContainerState], now: float,
                                            start: tuple[str, ...],
                                            failed: dict[str, str]) -> None:
    started = BOTH if seen else {}
    decided = _step(seen, started, now)
    assert decided.start == start
    assert dict(decided.failed) == failed


def test_a_dependency_given_up_means_its_dependents_never_start() -> None:
    decided = _step({"proxy": _seen("proxy", health="HEALTHY")}, {"proxy": 0.0}, 0.1,
                    given_up={"init": "never"})
    assert decided.failed["app"].endswith("because dependency will never start")
    assert decided.done


@pytest.mark.parametrize(("condition", "state", "resolved"), [
    ("START", _seen("d"), True),
    ("START", _seen("d", "PENDING"), False),
    ("COMPLETE", _seen("d", "STOPPED", code=3), True),
    ("COMPLETE", _seen("d"), False),
    ("SUCCESS", _seen("d", "STOPPED", code=0), True),
    ("HEALTHY", _seen("d", health="HEALTHY"), True),
    ("HEALTHY", _seen("d", health="UNKNOWN"), False),
])
def test_each_condition_resolves_as_the_agent_says(condition: str, state: ContainerState,
                                                  resolved: bool) -> None:
    dependency = {"name": "d", "image": "x", "essential": False, "healthCheck": CHECK}
    target = {"name": "t", "image": "x", "dependsOn": [_dep("d", condition)]}
    decided = ordering.step([dependency, target],
                            ordering.Round({"d": state}, {"d": 0.0}, {}, 1.0, TIMING))
    assert (decided.start == ("t",)) is resolved
    assert not decided.failed


@pytest.mark.parametrize(("defs", "message"), [
    ([{"name": "a", "dependsOn": [_dep("ghost", "START")]}], "not another container"),
    ([{"name": "a", "dependsOn": [_dep("a", "START")]}], "not another container"),
    ([{"name": "a"}, {"name": "b", "dependsOn": [_dep("a", "LATER")]}], "ECS takes START"),
    ([{"name": "a"}, {"name": "b", "dependsOn": [_dep("a", "COMPLETE")]}], "is essential"),
    ([{"name": "a"}, {"name": "b", "dependsOn": [_dep("a", "HEALTHY")]}], "no healthCheck"),
    ([{"name": "a", "dependsOn": [_dep("b", "START")]},
      {"name": "b", "dependsOn": [_dep("a", "START")]}], "form a cycle"),
])
def test_a_depends_on_ecs_would_refuse_is_refused(defs: list[dict[str, Any]],
                                                 message: str) -> None:
    with pytest.raises(ordering.OrderingError, match=message):
        ordering.check(defs)


def test_containers_stop_dependents_first() -> None:
    assert ordering.stop_layers([INIT, PROXY, APP]) == [["app"], ["init", "proxy"]]
    web = {"name": "web", "dependsOn": [_dep("app", "START")]}
    assert ordering.stop_layers([INIT, PROXY, APP, web]) == [["web"], ["app"],
                                                            ["init", "proxy"]]


@pytest.mark.parametrize(("definition", "seconds"), [
    ({}, 3),  # ECS's 30 s default, scaled by 0.1
    ({"stopTimeout": 20}, 2),
    ({"stopTimeout": 2}, 1),  # never under a second
    ({"stopTimeout": 120}, 12),
])
def test_stop_timeout_is_scaled_like_other_durations(definition: dict[str, Any],
                                                     seconds: int) -> None:
    assert ordering.stop_seconds(definition, TIMING) == seconds


MIB = 2**20


@pytest.mark.parametrize(("task", "container", "host"), [
    ({}, {}, {}),
    ({"cpu": "256", "memory": "512"}, {},
     {"mem_limit": 512 * MIB, "memswap_limit": 512 * MIB, "nano_cpus": 250_000_000}),
    ({"cpu": "1 vCPU", "memory": "2 GB"}, {"memory": 128, "memoryReservation": 64, "cpu": 1},
     {"mem_limit": 128 * MIB, "memswap_limit": 128 * MIB, "mem_reservation": 64 * MIB,
      "cpu_shares": 2, "nano_cpus": 1_000_000_000}),
    ({}, {"memoryReservation": 64}, {"mem_reservation": 64 * MIB}),
    ({"cpu": "4096"}, {}, {"nano_cpus": 2_000_000_000}),  # lowered to the engine's 2 CPUs
])
def test_cpu_and_memory_become_docker_limits(task: dict[str, Any], container: dict[str, Any],
                                             host: dict[str, Any]) -> None:
    made, notes = options.resources(task, {"name": "app", **container}, host_cpus=2)
    assert made == host
    assert bool(notes) == (task.get("cpu") == "4096")


@pytest.mark.parametrize(("task", "container", "message"), [
    ({}, {"memory": 4}, "the least is 6 MiB"),
    ({}, {"memory": 64, "memoryReservation": 128}, "more than its memory"),
    ({}, {"memory": "lots"}, "give a whole number"),
    ({}, {"cpu": True}, "give a whole number"),
    ({"memory": "half"}, {}, "give a positive number"),
    ({"cpu": "-1"}, {}, "give a positive number"),
])
def test_resources_ecs_refuses_are_refused(task: dict[str, Any], container: dict[str, Any],
                                           message: str) -> None:
    with pytest.raises(options.ResourceError, match=message):
        options.resources(task, {"name": "app", **container}, host_cpus=2)


def test_containers_may_not_claim_more_than_the_task() -> None:
    defs = [{"name": "a", "memory": 300}, {"name": "b", "memory": 300}]
    with pytest.raises(options.ResourceError, match="add up to 600"):
        options.check_task({"memory": "512"}, defs)
    options.check_task({"memory": "1024"}, defs)


def test_linux_options_become_docker_options() -> None:
    definition = {
        "name": "app", "readonlyRootFilesystem": True, "pseudoTerminal": True,
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        "linuxParameters": {"initProcessEnabled": True, "sharedMemorySize": 64,
                            "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]},
                            "tmpfs": [{"containerPath": "/scratch", "size": 32,
                                       "mountOptions": ["noexec"]}]},
        "stopTimeout": 50, "dockerLabels": {"team": "web"},
    }
    assert options.host_options(definition) == {
        "read_only": True, "init": True, "shm_size": 64 * MIB,
        "ulimits": [{"name": "nofile", "soft": 1024, "hard": 4096}],
        "cap_add": ["SYS_PTRACE"], "cap_drop": ["NET_RAW"],
        "tmpfs": {"/scratch": "size=32m,noexec"},
    }
    assert options.create_options(definition, TIMING) == {"stop_timeout": 5, "tty": True}
    assert options.docker_labels(definition) == {"team": "web"}


def test_an_oom_killed_container_reports_ecs_reason_and_137() -> None:
    seen = inspected({"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}})
    state = container_state({"name": "hog", "image": "x"}, "abc", seen)
    assert (state.last_status, state.exit_code, state.reason) == ("STOPPED", 137,
                                                                  OUT_OF_MEMORY)


class _Engine:
    """A Docker engine where each container runs as its script says: ``{name: [status,
    health, exit code] per inspect}``; the last entry repeats."""

    def __init__(self, scripts: dict[str, list[tuple[str, str | None, int]]]) -> None:
        self.scripts = scripts
        self.order: list[str] = []
        self.looks: dict[str, int] = {}

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def create_container(self, **kwargs: Any) -> dict[str, str]:
        return {"Id": str(kwargs["labels"]["dev.release.local.container"])}

    def start(self, runtime_id: str) -> None:
        self.order.append(runtime_id)

    def inspect_container(self, runtime_id: str) -> dict[str, Any]:
        script = self.scripts[runtime_id]
        index = self.looks.get(runtime_id, 0)
        self.looks[runtime_id] = index + 1
        status, health, code = script[min(index, len(script) - 1)]
        state: dict[str, Any] = {"Status": status, "ExitCode": code, "Pid": 7}
        if health:
            state["Health"] = {"Status": health}
        return {"State": state}


def _run(engine: _Engine, *defs: dict[str, Any]) -> startup.Startup:
    clock = iter(float(n) / 10 for n in range(10_000))
    spec = TaskSpec(task_arn=ARN, cluster="demo", service="web", deployment_id="ecs-svc/1",
                    task_definition={"family": "web", "containerDefinitions": list(defs)})
    return startup.Startup(api=engine, spec=spec, sandbox="sb", secrets={}, plane="p",
                           timing=TIMING, clock=lambda: next(clock), checkpoint=lambda: None,
                           created=lambda name, runtime_id: None, observed=lambda seen: None,
                           wait=lambda seconds: None)


def test_the_startup_starts_the_app_after_its_init_succeeded_and_proxy_is_healthy() -> None:
    engine = _Engine({"init": [("running", None, 0), ("exited", None, 0)],
                      "proxy": [("running", "starting", 0), ("running", "starting", 0),
                                ("running", "healthy", 0)],
                      "app": [("running", None, 0)]})
    run = _run(engine, {**INIT, "image": "x"}, PROXY, APP)
    startup.start_containers(run)
    assert engine.order == ["init", "proxy", "app"]
    assert run.given_up == {}


def test_the_startup_fails_the_task_when_an_essential_containers_dependency_fails() -> None:
    engine = _Engine({"init": [("exited", None, 1)], "proxy": [("running", "healthy", 0)]})
    with pytest.raises(StartFailedError, match="did not exit successfully") as failed:
        startup.start_containers(_run(engine, INIT, PROXY, APP))
    assert failed.value.container == "app"
    assert "app" not in engine.order


def test_a_non_essential_container_whose_dependency_fails_is_only_given_up() -> None:
    helper = {**APP, "name": "helper", "essential": False}
    engine = _Engine({"init": [("exited", None, 1)], "proxy": [("running", "healthy", 0)]})
    run = _run(engine, INIT, PROXY, helper)
    startup.start_containers(run)
    assert list(run.given_up) == ["helper"]
    assert engine.order == ["init", "proxy"]


def test_an_essential_container_exiting_while_others_wait_stops_the_task() -> None:
    engine = _Engine({"init": [("running", None, 0)], "proxy": [("exited", None, 1)]})
    with pytest.raises(startup.EssentialExitedError):
        startup.start_containers(_run(engine, INIT, PROXY, APP))


def test_a_task_ecs_would_refuse_fails_to_start_saying_why() -> None:
    spec = TaskSpec(task_arn=ARN, cluster="demo", service="web", deployment_id="ecs-svc/1",
                    task_definition={"memory": "64", "containerDefinitions": [
                        {"name": "a", "memory": 100}]})
    with pytest.raises(StartFailedError, match="ClientException: the containers' memory"):
        startup.check(spec)


class _Stopping:
    """An engine whose containers all run; those in ``stubborn`` ignore their stop signal."""

    def __init__(self, stubborn: set[str]) -> None:
        self.stubborn = stubborn
        self.calls: list[tuple[str, str]] = []
        self.waited: dict[str, float] = {}

    def inspect_container(self, runtime_id: str) -> dict[str, Any]:
        signal = "SIGQUIT" if runtime_id == "proxy" else None
        return {"State": {"Status": "running"}, "Config": {"StopSignal": signal}}

    def kill(self, runtime_id: str, signal: str = "SIGKILL") -> None:
        self.calls.append((runtime_id, signal))

    def wait(self, runtime_id: str, timeout: float) -> dict[str, int]:
        import requests

        self.waited.setdefault(runtime_id, timeout)
        if runtime_id in self.stubborn and self.calls[-1] != (runtime_id, "SIGKILL"):
            raise requests.exceptions.ReadTimeout
        return {"StatusCode": 0}


def test_stop_signals_a_layer_together_dependents_first_and_kills_the_stubborn() -> None:
    engine = _Stopping(stubborn={"app"})
    spec = TaskSpec(task_arn=ARN, cluster="demo", service="web", deployment_id="ecs-svc/1",
                    task_definition={"containerDefinitions": [
                        INIT, {**PROXY, "stopTimeout": 50}, {**APP, "stopTimeout": 20}]})
    startup.stop_containers(engine, spec, {"init": "init", "proxy": "proxy", "app": "app"},
                            TIMING)
    assert engine.calls == [("app", "SIGTERM"), ("app", "SIGKILL"),  # after its 2 s
                            ("init", "SIGTERM"), ("proxy", "SIGQUIT")]  # the image's signal
    assert 1.5 < engine.waited["app"] <= 2
    assert 4.5 < engine.waited["proxy"] <= 5


def test_describe_tasks_shows_the_stop_and_the_limits_in_ecs_shape() -> None:
    from release.local.ecs import shapes, tasks_api
    from release.local.ecs.model import TaskState

    spec = TaskSpec(task_arn=ARN, cluster="demo", service="", deployment_id="",
                    task_definition={"family": "web", "cpu": "256", "memory": "512",
                                     "containerDefinitions": [
                                         {"name": "hog", "image": "x", "memory": 16,
                                          "memoryReservation": 8, "cpu": 128}]})
    hog = ContainerState(name="hog", image="x", last_status="STOPPED", exit_code=137,
                         reason=OUT_OF_MEMORY, runtime_id="abc")
    state = TaskState(spec, "STOPPED", "STOPPED", "UNKNOWN", (hog,), created_at=1.0,
                      started_at=2.0, stopped_at=4.0, stopping_at=3.0,
                      stop_code="EssentialContainerExited",
                      stopped_reason="Essential container in task exited")
    answer = tasks_api.describe_tasks({"tasks": [ARN]}, {ARN: state}, "eu-west-1",
                                      "123456789012")
    assert shapes.check_shape("DescribeTasks", answer) == []
    task = answer["tasks"][0]
    assert (task["stoppingAt"], task["stoppedAt"]) == (3.0, 4.0)
    container = task["containers"][0]
    assert (container["exitCode"], container["reason"]) == (137, OUT_OF_MEMORY)
    assert (container["cpu"], container["memory"], container["memoryReservation"]) == (
        "128", "16", "8")


def test_a_dependency_without_start_timeout_waits_no_longer_than_a_task_may_take() -> None:
    proxy = {**PROXY, "startTimeout": None}  # no startTimeout: no per-dependency bound
    engine = _Engine({"init": [("exited", None, 0)], "proxy": [("running", "unhealthy", 0)]})
    run = _run(engine, INIT, proxy, APP)  # the clock moves 0.1 s a round
    with pytest.raises(StartFailedError, match=r"containers app still wait on their "
                                               r"dependsOn after 120 s") as failed:
        startup.start_containers(run)
    assert failed.value.container == "app"
