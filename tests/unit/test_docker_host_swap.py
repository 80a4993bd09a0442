"""The order of a docker_host swap, against a scripted engine (what the e2e test cannot
arrange: a previous container that fails its health check on rollback, a leftover
``-next`` container, both containers running at once): no container is stopped before its
replacement may take its place, and a failure puts back what ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from release.adapters.docker_host import Host
from release.config.model import ContainerHealth, DockerHostDeployment
from release.engine.context import Context
from release.engine.targets import docker_host as kind
from release.errors import ReleaseError
from release.planning.docker_swap import Container, HostState

IMAGE = "r.example/detector@sha256:" + "b" * 64


@dataclass
class Box:
    """A scripted container: its name, whether it runs, and whether it answers /health."""

    name: str
    healthy: bool = True
    running: bool = False


@dataclass
class ScriptedHost:
    """The calls ``Host`` answers, on containers kept in a dict; every call recorded."""

    dep: DockerHostDeployment
    boxes: dict[str, Box] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    new_healthy: bool = True
    shown: str = "ssh://vm"

    def find(self, name: str) -> Container | None:
        for ident, box in self.boxes.items():
            if box.name == name:
                return Container(name, ident, IMAGE, box.running)
        return None

    def create(self, name: str, image: str, labels: Any) -> str:
        ident = f"id{len(self.boxes)}"
        self.boxes[ident] = Box(name, self.new_healthy)
        self.calls.append(f"create {name}")
        return ident

    def start(self, ident: str) -> None:
        self.boxes[ident].running = True
        self.calls.append(f"start {self.boxes[ident].name}")

    def stop(self, ident: str) -> None:
        self.boxes[ident].running = False
        self.calls.append(f"stop {self.boxes[ident].name}")

    def rename(self, ident: str, name: str) -> None:
        self.calls.append(f"rename {self.boxes[ident].name} {name}")
        self.boxes[ident].name = name

    def remove(self, ident: str) -> None:
        self.calls.append(f"remove {self.boxes.pop(ident).name}")

    def running(self, ident: str) -> bool:
        return self.boxes[ident].running

    def probe(self, ident: str) -> bool:
        return self.boxes[ident].healthy

    def logs(self, ident: str) -> str:
        return "model file missing"

    def state(self) -> HostState:
        return HostState(self.find(self.dep.name), self.find(self.dep.name + "-previous"))


def context() -> Context:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return Context(config=cast(Any, None), env=cast(Any, None), aws=None, commit="c",
                   clock=lambda: now[0], sleep=sleep)


def scripted(ports: tuple[str, ...], *, old: bool = True, previous: bool = False,
             leftover: bool = False) -> ScriptedHost:
    dep = DockerHostDeployment(host="ssh://vm", name="d", ports=ports,
                               health=ContainerHealth("/health", 80, 5))
    host = ScriptedHost(dep)
    if previous:
        host.boxes["p"] = Box("d-previous")
    if old:
        host.boxes["o"] = Box("d", running=True)
    if leftover:
        host.boxes["x"] = Box("d-next")
    return host


def release(host: ScriptedHost) -> float:
    return kind._release(context(), cast(Host, host), host.state(),
                         kind.Swap(IMAGE, {}))


def test_with_ports_the_old_container_stops_right_before_the_new_one_starts() -> None:
    host = scripted(("6000:80",), previous=True)
    release(host)
    assert host.calls == ["create d-next", "stop d", "start d-next", "remove d-previous",
                          "rename d d-previous", "rename d-next d"]


def test_without_ports_the_new_container_runs_beside_the_old_one_first() -> None:
    host = scripted((), leftover=True)
    assert release(host) == 0.0
    assert host.calls == ["remove d-next", "create d-next", "start d-next", "stop d",
                          "rename d d-previous", "rename d-next d"]


def test_a_failed_health_check_removes_the_new_container_and_starts_the_old_one() -> None:
    host = scripted(("6000:80",), previous=True)
    host.new_healthy = False
    with pytest.raises(ReleaseError) as failed:
        release(host)
    assert "did not pass its health check" in failed.value.message
    assert "the previous container serves again" in failed.value.message
    assert "model file missing" in (failed.value.hint or "")
    assert host.calls == ["create d-next", "stop d", "start d-next", "remove d-next",
                          "start d"]
    assert {b.name for b in host.boxes.values()} == {"d", "d-previous"}  # kept as it was


def test_a_failed_first_release_leaves_nothing_behind() -> None:
    host = scripted(("6000:80",), old=False)
    host.new_healthy = False
    with pytest.raises(ReleaseError, match="it was removed"):
        release(host)
    assert host.boxes == {}


def test_rollback_swaps_the_two_containers() -> None:
    host = scripted(("6000:80",), previous=True)
    kind._bring_back(context(), cast(Host, host), host.state())
    assert host.calls == ["stop d", "start d-previous", "rename d d-next",
                          "rename d-previous d", "rename d-next d-previous"]


def test_a_previous_container_that_fails_its_check_leaves_the_current_one_serving() -> None:
    host = scripted(("6000:80",), previous=True)
    host.boxes["p"].healthy = False
    with pytest.raises(ReleaseError, match="the current container serves again"):
        kind._bring_back(context(), cast(Host, host), host.state())
    assert host.calls == ["stop d", "start d-previous", "stop d-previous", "start d"]
