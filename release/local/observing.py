"""`release local status`: is each recorded component's process alive, does it answer?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from release.local import docker_engine, moto_server
from release.local.azure import components as azure
from release.local.processes import http_status, is_running
from release.local.state import (
    ACR,
    AZURE,
    COMPONENTS,
    DOCKER,
    ECS,
    MOTO,
    OIDC,
    REGISTRY,
    Component,
    LocalState,
)


def alive(component: Component) -> bool:
    """The recorded process still runs (the same one: its start time matches)."""
    return component.pid is not None and is_running(component.pid, component.proc_start)


@dataclass(frozen=True)
class ComponentStatus:
    """One component as `status` sees it now."""

    name: str
    address: str
    pid: int | None
    owned: bool
    running: bool  # the recorded process is alive (or, for an engine we do not own, n/a)
    answers: bool
    log: str | None


def observe(state: LocalState) -> list[ComponentStatus]:
    """Each recorded component: is its process alive, does it answer?"""
    probes: dict[str, Callable[[Component], bool]] = {
        DOCKER: lambda c: docker_engine.answers(c.url),
        MOTO: lambda c: moto_server.is_moto(c.url),
        REGISTRY: lambda c: http_status(f"{c.url}/v2/") is not None,
        OIDC: lambda c: http_status(f"{c.url}/.well-known/openid-configuration") == 200,
        ECS: lambda c: moto_server.is_moto(c.url),  # through the control plane to moto
        ACR: lambda c: azure.answers(f"{c.url}/v2/", state),
        AZURE: lambda c: azure.answers(f"{c.url}/{azure.LOCAL_TENANT}/v2.0/.well-known/"
                                       "openid-configuration", state),
    }
    report = []
    for name in COMPONENTS:
        component = state.components.get(name)
        if component is None:
            continue
        running = alive(component) if component.owned else True
        report.append(ComponentStatus(
            name=name, address=component.address, pid=component.pid, owned=component.owned,
            running=running, answers=probes[name](component), log=component.log,
        ))
    return report


