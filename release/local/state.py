"""The local cloud's state file: what `up` started, where it listens, how to reach it.

One local cloud per machine, whichever repository starts or uses it: the file lives in
``$RELEASE_LOCAL_STATE_DIR``, else ``$XDG_STATE_HOME/release/local``, else
``~/.local/state/release/local`` (``--state-dir`` overrides all three; tests and CI use it for
private clouds). It is the only record `down` trusts: processes are stopped by the PIDs
written here.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from release.errors import ReleaseError

STATE_VERSION = 1
STATE_FILE = "state.json"
STATE_DIR_ENV = "RELEASE_LOCAL_STATE_DIR"
LEGACY_STATE_DIR = Path(".release") / "local"  # per repository, before one cloud per machine

DOCKER = "docker"
MOTO = "moto"
REGISTRY = "registry"
OIDC = "oidc"
ECS = "ecs"  # the ECS control plane: the AWS endpoint releases use, moto behind it
ACR = "acr"  # the TLS registry ACR logins push to
AZURE = "azure"  # Entra ID, ACR's token exchange and the Container Apps API (HTTPS)
COMPONENTS = (DOCKER, MOTO, REGISTRY, OIDC, ECS, ACR, AZURE)
AZURE_CA_FILE = Path("azure") / "azure-ca.crt"  # what clients of the Azure endpoints trust


@dataclass(frozen=True)
class Component:
    """One running piece of the local cloud."""

    address: str  # host:port, or a docker host URL such as unix:///var/run/docker.sock
    url: str  # what a client connects to
    owned: bool  # True when `up` started it: only these are stopped by `down`
    pid: int | None = None
    proc_start: int | None = None  # /proc start time, guards against a reused PID
    log: str | None = None


@dataclass(frozen=True)
class LocalState:
    """Everything `up` recorded; what other commands read to reach the local cloud."""

    state_dir: str
    repo_root: str
    region: str
    account_id: str
    components: dict[str, Component] = field(default_factory=dict)
    registry_username: str = "AWS"
    registry_password: str = ""
    oidc_request_token: str = ""
    acr_password: str = ""  # the refresh token ACR's exchange hands out (the registry's)
    base_images: tuple[str, ...] = ()
    version: int = STATE_VERSION

    def with_component(self, name: str, component: Component) -> LocalState:
        """A copy with ``name`` set to ``component``."""
        return replace(self, components={**self.components, name: component})

    def without_component(self, name: str) -> LocalState:
        """A copy that no longer records ``name``."""
        rest = {key: value for key, value in self.components.items() if key != name}
        return replace(self, components=rest)

    @property
    def aws_endpoint_url(self) -> str:
        """The AWS endpoint, for botocore's ``endpoint_url`` / ``AWS_ENDPOINT_URL``: the ECS
        control plane, which forwards all but ECS's service and task calls to moto."""
        return self._url(ECS) if ECS in self.components else self._url(MOTO)

    @property
    def moto_url(self) -> str:
        """moto itself (behind the control plane)."""
        return self._url(MOTO)

    @property
    def registry_host(self) -> str:
        """``127.0.0.1:5001``: the registry part of image references."""
        return self._component(REGISTRY).address

    @property
    def docker_host(self) -> str:
        """The Docker engine URL, for ``docker.DockerClient(base_url=...)``."""
        return self._url(DOCKER)

    @property
    def oidc_issuer(self) -> str:
        """``http://127.0.0.1:5002``: the ``iss`` of every token it signs."""
        return self._url(OIDC)

    @property
    def oidc_request_url(self) -> str:
        """Like GitHub's: callers append ``&audience=...``."""
        return f"{self.oidc_issuer}/token?api-version=2.0"

    @property
    def acr_host(self) -> str:
        """``127.0.0.1:5004``: the ACR registry (TLS) in image references."""
        return self._component(ACR).address

    @property
    def azure_url(self) -> str:
        """``https://127.0.0.1:5003``: Entra ID's authority, the management endpoint and
        ACR's token exchange."""
        return self._url(AZURE)

    @property
    def azure_ca_file(self) -> str:
        """The certificate the Azure endpoints and the ACR registry present."""
        return str(Path(self.state_dir) / AZURE_CA_FILE)

    def environment(self) -> dict[str, str]:
        """Variables that point the release tool (and the AWS SDK) at the local cloud."""
        env: dict[str, str] = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if MOTO in self.components or ECS in self.components:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if DOCKER in self.components:
            env["DOCKER_HOST"] = self.docker_host
        if OIDC in self.components:
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = self.oidc_request_url
            env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = self.oidc_request_token
        if AZURE in self.components:
            env["REQUESTS_CA_BUNDLE"] = self.azure_ca_file
        return env

    def export_lines(self) -> list[str]:
        """``export KEY=VALUE`` lines, quoted for a POSIX shell."""
        return [f"export {key}={shlex.quote(value)}" for key, value in self.environment().items()]

    def _component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise ReleaseError(
                f"the local cloud has no {name} running (state: {self.state_dir})",
                hint="run `release local up` first",
            ) from None

    def _url(self, name: str) -> str:
        return self._component(name).url


def to_json(state: LocalState) -> dict[str, Any]:
    """The JSON form written to ``state.json``."""
    data = asdict(state)
    data["base_images"] = list(state.base_images)
    return data


def from_json(data: dict[str, Any]) -> LocalState:
    """Parse what ``to_json`` wrote."""
    components = {name: Component(**value) for name, value in data["components"].items()}
    return LocalState(
        state_dir=data["state_dir"],
        repo_root=data["repo_root"],
        region=data["region"],
        account_id=data["account_id"],
        components=components,
        registry_username=data.get("registry_username", "AWS"),
        registry_password=data.get("registry_password", ""),
        oidc_request_token=data.get("oidc_request_token", ""),
        acr_password=data.get("acr_password", ""),
        base_images=tuple(data.get("base_images", ())),
        version=data.get("version", STATE_VERSION),
    )


def find_repo_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``release.yaml``, else ``start``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "release.yaml").is_file():
            return candidate
    return start


def default_state_dir(env: Mapping[str, str]) -> Path:
    """The machine's local cloud: ``$RELEASE_LOCAL_STATE_DIR``, else
    ``$XDG_STATE_HOME/release/local``, else ``~/.local/state/release/local``.

    Never inside a repository, so any repository's `release local` finds the same cloud.
    A relative ``XDG_STATE_HOME`` is ignored, as the XDG specification says.
    """
    chosen = env.get(STATE_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "release" / "local"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "release" / "local"


def legacy_state_dir(repo_root: Path) -> Path:
    """``<repo>/.release/local``: where a cloud started by an older release keeps its state."""
    return repo_root / LEGACY_STATE_DIR


def read_state(state_dir: Path) -> LocalState | None:
    """The recorded state, or None when `up` never ran here."""
    path = state_dir / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(
            f"cannot read the local cloud state {path}: {exc}",
            hint="stop what it started by hand, then delete the file and run `release local up`",
        ) from exc


def load_state(state_dir: Path) -> LocalState:
    """The recorded state; raises when the local cloud was never started here."""
    state = read_state(state_dir)
    if state is None:
        raise ReleaseError(
            f"the local cloud is not running: no {state_dir / STATE_FILE}",
            hint="run `release local up` first",
        )
    return state


def write_state(state: LocalState) -> Path:
    """Write ``state.json`` atomically (temp file + ``os.replace``), readable by owner only."""
    state_dir = Path(state.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(to_json(state), handle, indent=2, sort_keys=True)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
