"""`up`, `status` and `down` for the embedded local cloud.

``up`` starts only what is not running yet and records every process it starts in the
state file before waiting for it, so ``down`` can stop it even when ``up`` failed.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import release
from release.errors import ReleaseError
from release.local import base_images, docker_engine, moto_server, oidc_issuer, prerequisites
from release.local import registry as registry_config
from release.local.azure import components as azure
from release.local.observing import ComponentStatus, observe
from release.local.observing import alive as _alive
from release.local.processes import Launch, Stopped, http_status, launch, port_open
from release.local.processes import stop as stop_process
from release.local.state import (
    ACR,
    AZURE,
    COMPONENTS,
    DOCKER,
    ECS,
    MOTO,
    OIDC,
    REGISTRY,
    STATE_FILE,
    Component,
    LocalState,
    legacy_state_dir,
    read_state,
    write_state,
)
from release.local.waiting import Timing, wait_until
from release.local.workflow_claims import write_default_claims


def _to_stderr(message: str) -> None:
    sys.stderr.write(f"local: {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Options:
    """Where the local cloud lives and listens."""

    repo_root: Path  # the repository `up` runs from: the default OIDC claims come from it
    state_dir: Path
    host: str = "127.0.0.1"
    moto_port: int = 5000
    registry_port: int = 5001
    oidc_port: int = 5002
    azure_port: int | None = None  # Entra ID, ACR's exchange, Container Apps; None: oidc + 1
    acr_port: int | None = None  # the ACR registry (TLS); None: oidc_port + 2
    region: str = "eu-west-1"
    account_id: str = moto_server.DEFAULT_ACCOUNT
    docker_host: str = docker_engine.DEFAULT_HOST  # where to start dockerd when none answers
    install: bool = True  # apt-get install missing Debian packages
    ecs_running: int = 1  # MOTO_ECS_SERVICE_RUNNING: tasks each new ECS service reports
    timeout: float = 60.0  # seconds to wait for each component to answer


@dataclass(frozen=True)
class Deps:
    """The world, passed in so tests can replace it."""

    timing: Timing = field(default_factory=Timing)
    say: Callable[[str], None] = _to_stderr
    run: prerequisites.Runner = prerequisites.run_to_stderr
    which: prerequisites.Which = shutil.which
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class UpResult:
    """What ``up`` did: the state, and which components it started now."""

    state: LocalState
    started: tuple[str, ...]


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the state directory (one `up`/`down` at a time)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(options: Options, deps: Deps) -> UpResult:
    """Start what is missing: Docker engine, moto, registry, OIDC issuer, base image."""
    options = replace(
        options, repo_root=options.repo_root.resolve(), state_dir=options.state_dir.resolve()
    )
    missing = prerequisites.missing_packages(deps.which)
    if missing and not options.install:
        raise ReleaseError(
            f"missing Debian packages: {', '.join(missing)}",
            hint=f"apt-get update && apt-get install -y {' '.join(missing)}",
        )
    prerequisites.install_packages(missing, deps.run, deps.say, is_root=os.geteuid() == 0)
    prerequisites.check_python_modules()
    with locked(options.state_dir):
        state = read_state(options.state_dir) or LocalState(
            state_dir=str(options.state_dir),
            repo_root=str(options.repo_root),
            region=options.region,
            account_id=options.account_id,
        )
        _refuse_taken_ports(state, options)
        started: list[str] = []
        for name, ensure in ((DOCKER, _ensure_docker), (MOTO, _ensure_moto),
                             (REGISTRY, _ensure_registry), (OIDC, _ensure_oidc),
                             (ECS, _ensure_ecs), (ACR, _ensure_acr), (AZURE, _ensure_azure)):
            state, was_started = ensure(state, options, deps)
            write_state(state)
            if was_started:
                started.append(name)
        state = _ensure_base_image(state, deps)
        write_state(state)
    return UpResult(state=state, started=tuple(started))


@dataclass(frozen=True)
class _Service:
    """One process to keep running: how to start it, where it listens, how to probe it."""

    spec: Launch
    address: str
    url: str
    ready: Callable[[], bool]


def _ensure_docker(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    previous = state.components.get(DOCKER)
    if previous and previous.owned and _alive(previous):
        _wait_ready(DOCKER, previous, lambda: docker_engine.answers(previous.url), options, deps)
        return state, False
    existing = docker_engine.configured_host()
    if docker_engine.answers(existing):
        deps.say(f"docker: using the engine already running at {existing}")
        external = Component(address=existing, url=existing, owned=False)
        return state.with_component(DOCKER, external), False
    host = options.docker_host
    argv = docker_engine.dockerd_argv(host, options.state_dir / "dockerd.pid")
    spec = Launch(DOCKER, argv, _log(options, "dockerd"), deps.env, options.state_dir)
    deps.say(f"docker: starting dockerd on {host} (log: {spec.log})")
    service = _Service(spec, host, host, lambda: docker_engine.answers(host))
    return _start(state, service, options, deps), True


def _moto_port(state: LocalState, options: Options) -> int:
    """moto's own port, behind the control plane: the one it runs on, else a free one."""
    previous = state.components.get(MOTO)
    if previous and previous.owned and _alive(previous):
        return int(previous.address.rpartition(":")[2])
    with socket.socket() as probe:
        probe.bind((options.host, 0))
        return int(probe.getsockname()[1])


def _ensure_moto(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    address = f"{options.host}:{_moto_port(state, options)}"
    url = f"http://{address}"
    env = moto_server.environment(deps.env, options.region, options.account_id, options.ecs_running)
    argv = moto_server.argv(options.host, int(address.rpartition(":")[2]))
    spec = Launch(MOTO, argv, _log(options, "moto"), env, options.state_dir)
    service = _Service(spec, address, url, lambda: moto_server.is_moto(url))
    state, started = _ensure_process(state, service, options, deps)
    if started:
        moto_server.configure(url)
    user, password = moto_server.ecr_password(url, options.region)
    return replace(state, registry_username=user, registry_password=password), started


def _ensure_registry(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    address = f"{options.host}:{options.registry_port}"
    url = f"http://{address}"
    previous = state.components.get(REGISTRY)
    if not (previous and previous.owned and _alive(previous)):
        registry_config.write_htpasswd(
            options.state_dir, state.registry_username, state.registry_password
        )
    config = registry_config.write_config(options.state_dir, options.host, options.registry_port)
    argv = registry_config.argv(config)
    spec = Launch(REGISTRY, argv, _log(options, "registry"), deps.env, options.state_dir)
    service = _Service(spec, address, url, lambda: http_status(f"{url}/v2/") is not None)
    return _ensure_process(state, service, options, deps)


def _ensure_oidc(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    address = f"{options.host}:{options.oidc_port}"
    url = f"http://{address}"
    token = state.oidc_request_token or secrets.token_urlsafe(32)
    state = replace(state, oidc_request_token=token)
    write_default_claims(options.state_dir / oidc_issuer.CLAIMS_FILE, options.repo_root)
    # The child imports this package, wherever it is installed from.
    package_parent = str(Path(release.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_parent, deps.env.get("PYTHONPATH")) if p)
    env = {**deps.env, oidc_issuer.TOKEN_ENV: token, "PYTHONPATH": python_path}
    argv = [sys.executable, "-m", "release.local.oidc_issuer",
            "--state-dir", str(options.state_dir.resolve()),
            "--host", options.host, "--port", str(options.oidc_port)]
    spec = Launch(OIDC, argv, _log(options, "oidc"), env, options.state_dir)
    discovery = f"{url}/.well-known/openid-configuration"
    service = _Service(spec, address, url, lambda: http_status(discovery) == 200)
    return _ensure_process(state, service, options, deps)


def _ensure_ecs(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    """The ECS control plane on the AWS endpoint's port, moto behind it."""
    address = f"{options.host}:{options.moto_port}"
    url = f"http://{address}"
    package_parent = str(Path(release.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_parent, deps.env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "release.local.ecs",
            "--state-dir", str(options.state_dir.resolve()), "--port", str(options.moto_port),
            "--moto-url", state.moto_url, "--docker-host", state.docker_host,
            "--registry-host", state.registry_host, "--region", state.region,
            "--account-id", state.account_id,
            "--label", f"local-cloud-{options.moto_port}"]
    spec = Launch(ECS, argv, _log(options, "ecs"), {**deps.env, "PYTHONPATH": python_path},
                  options.state_dir)
    service = _Service(spec, address, url, lambda: moto_server.is_moto(url))
    return _ensure_process(state, service, options, deps)


def _azure_ports(options: Options) -> tuple[int, int]:
    return (options.azure_port or options.oidc_port + 1, options.acr_port or options.oidc_port + 2)


def _ensure_acr(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    """ACR's registry over TLS; its password is the refresh token the exchange gives."""
    state = replace(state, acr_password=state.acr_password or secrets.token_urlsafe(32))
    previous = state.components.get(ACR)
    fresh = not (previous and previous.owned and _alive(previous))
    made = azure.acr(state, options.host, _azure_ports(options)[1], deps.env,
                     _log(options, "acr"), fresh=fresh)
    return _ensure_process(state, _Service(*made), options, deps)


def _ensure_azure(state: LocalState, options: Options, deps: Deps) -> tuple[LocalState, bool]:
    """Entra ID, ACR's token exchange and the Container Apps API, over HTTPS."""
    made = azure.azure(state, (options.host, _azure_ports(options)[0]), state.acr_host,
                       deps.env, _log(options, "azure"))
    return _ensure_process(state, _Service(*made), options, deps)


def _ensure_base_image(state: LocalState, deps: Deps) -> LocalState:
    busybox = deps.which("busybox")
    if busybox is None:
        raise ReleaseError(
            "base image: busybox not found", hint="apt-get install -y busybox-static"
        )
    engine = docker_engine.client(state.docker_host)
    try:
        if base_images.ensure_busybox_image(engine, Path(busybox).resolve()):
            deps.say(f"base image: made {base_images.BUSYBOX_IMAGE}")
    finally:
        engine.close()
    return replace(state, base_images=(base_images.BUSYBOX_IMAGE,))


def _ensure_process(
    state: LocalState, service: _Service, options: Options, deps: Deps
) -> tuple[LocalState, bool]:
    """Keep the recorded process when it still runs, else start it; True when started."""
    name = service.spec.name
    previous = state.components.get(name)
    if previous and previous.owned and _alive(previous):
        if previous.address != service.address:
            raise ReleaseError(
                f"{name} already runs on {previous.address}, not {service.address}",
                hint="run `release local down` first to move it",
            )
        _wait_ready(name, previous, service.ready, options, deps)
        return state, False
    host, _, port = service.address.rpartition(":")
    if port_open(host, int(port)):
        raise ReleaseError(
            f"{name}: {service.address} is already in use by a process this local cloud"
            " did not start",
            hint=_in_use_hint(options),
        )
    deps.say(f"{name}: starting on {service.address} (log: {service.spec.log})")
    return _start(state, service, options, deps), True


def _refuse_taken_ports(state: LocalState, options: Options) -> None:
    """Before starting anything: each port we would listen on is ours already, or free."""
    for name, port in ((ECS, options.moto_port), (REGISTRY, options.registry_port),
                       (OIDC, options.oidc_port), *zip((AZURE, ACR), _azure_ports(options),
                                                      strict=True)):
        previous = state.components.get(name)
        if previous and previous.owned and _alive(previous):
            continue
        if port_open(options.host, port):
            raise ReleaseError(f"{name}: {options.host}:{port} is already in use by a process "
                               "this local cloud did not start", hint=_in_use_hint(options))


def _in_use_hint(options: Options) -> str:
    legacy = legacy_state_dir(options.repo_root)
    if legacy != options.state_dir and (legacy / STATE_FILE).is_file():
        return (f"a cloud started by an older release keeps its state in {legacy}: stop it with"
                f" `release local down --state-dir {legacy}`, then run `release local up` again")
    return (f"stop that process, or pick another port; a cloud recorded elsewhere is reached"
            f" with --state-dir (state: {options.state_dir})")


def _start(state: LocalState, service: _Service, options: Options, deps: Deps) -> LocalState:
    started = launch(service.spec)
    component = Component(address=service.address, url=service.url, owned=True,
                          pid=started.pid, proc_start=started.proc_start,
                          log=str(service.spec.log))
    state = state.with_component(service.spec.name, component)
    write_state(state)  # before waiting: `down` must find it even if it never answers
    _wait_ready(service.spec.name, component, service.ready, options, deps)
    return state


def _wait_ready(
    name: str, component: Component, ready: Callable[[], bool], options: Options, deps: Deps
) -> None:
    def settled() -> bool:
        return ready() or not _alive(component)

    if wait_until(settled, options.timeout, deps.timing) and ready():
        return
    why = "exited" if not _alive(component) else f"did not answer within {options.timeout:g} s"
    raise ReleaseError(
        f"{name} (pid {component.pid}) {why} on {component.address}",
        hint=f"read its log: {component.log}",
    )


def _log(options: Options, name: str) -> Path:
    return (options.state_dir / "logs" / f"{name}.log").resolve()


@dataclass(frozen=True)
class StopReport:
    """What `down` did to one component."""

    name: str
    pid: int | None
    outcome: str  # "terminated", "killed", "not running", "left running (not ours)"


def down(state_dir: Path, deps: Deps) -> list[StopReport]:
    """Stop, by recorded PID, what `up` started; leave alone what it found running."""
    reports: list[StopReport] = []
    with locked(state_dir):
        state = read_state(state_dir)
        if state is None:
            return reports
        for name in reversed(COMPONENTS):
            component = state.components.get(name)
            if component is None:
                continue
            if not component.owned or component.pid is None:
                reports.append(StopReport(name, component.pid, "left running (not ours)"))
            else:
                grace = 30.0 if name == DOCKER else 10.0
                deps.say(f"{name}: stopping pid {component.pid}")
                outcome = stop_process(component.pid, component.proc_start, grace, deps.timing)
                reports.append(StopReport(name, component.pid, outcome.value))
                if outcome is Stopped.KILLED:
                    deps.say(f"{name}: pid {component.pid} ignored SIGTERM, killed")
            if name == ACR:  # dockerd no longer trusts the certificate for that address
                azure.untrust(component.address)
            state = state.without_component(name)
            write_state(state)
    return reports


__all__ = ["ComponentStatus", "Options", "down", "observe", "up"]
