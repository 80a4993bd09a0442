"""Pure decisions of the ``docker_host`` target: what the container should be (its run spec
and the key that names it), whether a host needs a release, how the old container makes way
for the new one, when a lock is stale, and what a health probe's answer means."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from release.config.model import DockerHostDeployment
from release.planning.plan import TargetStep
from release.planning.recorded import CONFIG_KEY_TAG

TARGET = "docker_host"
IMAGE_LABEL = "dev.release.image"
SPEC_LABEL = "dev.release.spec-key"
LOCK_SUFFIX = "-release-lock"
PREVIOUS_SUFFIX = "-previous"
NEXT_SUFFIX = "-next"
STALE_LOCK_SECONDS = 1800  # longer than any release holds it: pull, start, health, swap
SETTLE_SECONDS = 3  # without a health check: still running this long after start is healthy
LOG_LINES = 20


@dataclass(frozen=True)
class Container:
    """A container as the engine describes it, reduced to what the decisions need."""

    name: str
    id: str
    image: str  # the reference it was created from (ours: host/repository@sha256:...)
    running: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    status: str = ""  # running, exited, created, ...
    exit_code: int | None = None


@dataclass(frozen=True)
class HostState:
    """What a host runs for a service: the current container and the kept previous one."""

    current: Container | None
    previous: Container | None = None


def run_spec(dep: DockerHostDeployment, image: str | None) -> dict[str, object]:
    """What the container is, as compared and shown by ``release diff`` (secret files by
    path: their values never reach the release)."""
    return {
        "image": image or "(the image to build)",
        "environment": dict(sorted(dep.environment.items())),
        "ports": list(dep.ports),
        "network": dep.network or "default",
        "secrets": dict(sorted(dep.secrets.items())),
        "health": (f"GET :{dep.health.port}{dep.health.path} within "
                   f"{dep.health.timeout_seconds}s" if dep.health else
                   f"running {SETTLE_SECONDS}s after start"),
    }


def spec_key(dep: DockerHostDeployment) -> str:
    """A short key of everything but the image: a changed setting releases the container."""
    spec = run_spec(dep, None)
    spec.pop("image")
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def step(service: str, image: str | None, dep: DockerHostDeployment,
         current: Container | None, config_key: str | None = None) -> TargetStep:
    """Start the container when the host runs none, another image or other settings (or
    was released from another config key: a container's labels cannot be changed, so what
    `release plan` compares is only current when the container is), or when ours is not
    running; nothing when it runs exactly this."""
    if current is None:
        return TargetStep(service, TARGET, "deploy", "no container yet")
    if image is None:
        return TargetStep(service, TARGET, "deploy", "new image")
    if current.labels.get(IMAGE_LABEL) != image:
        return TargetStep(service, TARGET, "deploy", "host runs another image")
    if current.labels.get(SPEC_LABEL) != spec_key(dep):
        return TargetStep(service, TARGET, "deploy", "container settings differ")
    if config_key and current.labels.get(CONFIG_KEY_TAG, config_key) != config_key:
        return TargetStep(service, TARGET, "deploy", "release config differs")
    if not current.running:
        return TargetStep(service, TARGET, "deploy", f"container is {current.status or 'down'}")
    return TargetStep(service, TARGET, "none", "up to date")


def swap_mode(dep: DockerHostDeployment) -> Literal["beside", "stop-first"]:
    """``beside`` when both containers can run at once (nothing bound on the host: no
    published ports, not the host's network); else the old one stops first."""
    return "stop-first" if dep.ports or dep.network == "host" else "beside"


def lock_is_stale(created: float, now: float, stale_after: float = STALE_LOCK_SECONDS) -> bool:
    """True when a lock was taken longer ago than any release holds one (both times on the
    engine's clock: the runner's may differ)."""
    return now - created > stale_after


Verdict = Literal["wait", "healthy", "failed"]


def health_verdict(*, running: bool, probe_ok: bool | None, started: float, now: float,
                   timeout: float, has_probe: bool) -> Verdict:
    """What the new container's state means: ``probe_ok`` is the last probe's answer (None:
    not probed). A container that stopped has failed; one without a probe is healthy once
    it has run ``SETTLE_SECONDS``."""
    if not running:
        return "failed"
    if has_probe and probe_ok:
        return "healthy"
    if not has_probe and now - started >= SETTLE_SECONDS:
        return "healthy"
    return "failed" if now - started >= timeout else "wait"


def probe_command(port: int, path: str) -> list[str]:
    """The health probe run inside the container: the URL is an argument, never shell text."""
    script = ('wget -q -O /dev/null "$1" 2>&1 || curl -fsS -o /dev/null "$1" 2>&1')
    return ["sh", "-c", script, "health", f"http://127.0.0.1:{port}{path}"]


def url(host: str, dep: DockerHostDeployment) -> str | None:
    """Where the service answers: the first published TCP port on the host (or, with the
    host's network, the health check's port); None when neither says."""
    name = f"[{host}]" if ":" in host else host or "127.0.0.1"
    for entry in dep.ports:
        spec, _, proto = entry.partition("/")
        parts = spec.split(":")
        if proto in {"", "tcp"}:
            address = parts[0] if len(parts) == 3 and parts[0] != "0.0.0.0" else name  # noqa: S104
            return f"http://{address}:{parts[-2]}"
    if dep.network == "host" and dep.health is not None:
        return f"http://{name}:{dep.health.port}"
    return None


def describe(state: HostState) -> str:
    """The current container in a few words: its name, image digest (short) and state."""
    now = state.current
    if now is None:
        return "no container"
    digest = now.labels.get(IMAGE_LABEL, now.image).rpartition("@")[2]
    short = digest.removeprefix("sha256:")[:12] or "?"
    return f"{now.name} {short}" + ("" if now.running else f" ({now.status})")
