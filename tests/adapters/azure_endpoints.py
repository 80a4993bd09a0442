"""The local cloud's Azure endpoints (release.local.azure: Entra ID, the ACR exchange, the
Container Apps API) served in this process over TLS on 127.0.0.1, for adapter tests.

Only the engine is replaced: replicas run on a scripted runtime (the ECS ``Runtime``
Protocol) and probes answer as scripted, because adapter tests need outcomes the engine
cannot show on demand and quickly. The same calls against real containers are in
tests/e2e/test_azure_*.py. App registrations are read from an ``entra.json`` written here,
as the local cloud reads its own (``token_lifetime_seconds`` included).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oidc_helpers import RunningIssuer

from release.adapters import oidc
from release.adapters.azure import container_apps, identity
from release.config.model import AzureAccount
from release.local.azure import entra, tls
from release.local.azure.control import ContainerApps
from release.local.azure.replicas import Runner
from release.local.azure.server import LocalAzure, serve
from release.local.ecs.model import ContainerState, StopCode, TaskSpec, TaskState
from release.local.oidc_tokens import Workflow

TENANT = "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"
CLIENT = "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58"
SUBSCRIPTION = "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"
OLD_IMAGE = "old@sha256:" + "0" * 64


@dataclass
class ScriptedRuntime:
    """The ECS runtime Protocol without an engine: each replica's polls follow ``script``
    (``PENDING``, ``RUNNING``, or ``EXIT <code>``; the last entry repeats)."""

    script: list[str] = field(default_factory=lambda: ["PENDING", "RUNNING"])
    tasks: dict[str, tuple[TaskSpec, list[str]]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def start(self, spec: TaskSpec) -> None:
        self.tasks[spec.task_arn] = (spec, list(self.script))

    def poll(self, task_arn: str) -> TaskState:
        spec, steps = self.tasks[task_arn]
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        name = str(spec.task_definition["containerDefinitions"][0]["name"])
        if step.startswith("EXIT"):
            container = ContainerState(name, "image", "STOPPED", exit_code=int(step.split()[1]))
            return TaskState(spec, "STOPPED", "STOPPED", "UNKNOWN", (container,), 0.0)
        status = "RUNNING" if step == "RUNNING" else "PENDING"
        return TaskState(spec, status, "RUNNING", "UNKNOWN",  # type: ignore[arg-type]
                         (ContainerState(name, "image", status),),  # type: ignore[arg-type]
                         0.0, netns_pid=4242 if status == "RUNNING" else None)

    def stop(self, task_arn: str, code: StopCode, reason: str) -> None:
        self.stopped.append(task_arn)

    def logs(self, task_arn: str, container: str, lines: int) -> list[str]:
        return []

    def close(self) -> None:
        pass


class PassingProber:
    """Every probe passes (the scripted replicas have no network to probe)."""

    def __call__(self, pid: int, probe: object) -> str | None:
        return None

    def forget(self, pid: int) -> None:
        pass


@dataclass
class Listener:
    """An ingress listener that records its targets (no namespaces to reach here)."""

    container_port: int
    app_id: str = ""
    port: int = 18080
    targets: list[int] = field(default_factory=list)

    def set_targets(self, pids: list[int]) -> None:
        self.targets = list(pids)

    def close(self) -> None:
        pass


@dataclass
class Local:
    """The endpoints as the tests see them."""

    azure: LocalAzure
    apps: ContainerApps
    runtime: ScriptedRuntime
    ca_file: Path
    directory_file: Path
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.azure.url

    @property
    def host(self) -> str:
        return self.url.removeprefix("https://")

    def account(self) -> AzureAccount:
        return AzureAccount(TENANT, CLIENT, SUBSCRIPTION, authority_url=self.url,
                            management_url=self.url)

    def token(self, issuer: RunningIssuer) -> str:
        source = oidc.TokenSource.from_environ(issuer.environ())
        return identity.entra_token(self.account(), lambda: source(oidc.AZURE_AUDIENCE),
                                    identity.management_scope(self.account()),
                                    str(self.ca_file)).token

    def api(self, issuer: RunningIssuer) -> container_apps.Api:
        return container_apps.Api(self.account(), self.token(issuer), str(self.ca_file))

    def wait(self, sleeps: list[float] | None = None, **kwargs: object) -> container_apps.Wait:
        """Each of the adapter's waits is one reconcile pass of the control plane."""
        def sleep(seconds: float) -> None:
            if sleeps is not None:
                sleeps.append(seconds)
            self.apps.reconcile()
        return container_apps.Wait(sleep=sleep, **kwargs)  # type: ignore[arg-type]

    def token_lifetime(self, seconds: int) -> None:
        """Entra ID tokens issued from now on live ``seconds`` (entra.json, as the local
        cloud's own is edited)."""
        directory = entra.read_directory(self.directory_file)
        entra.write_directory(self.directory_file, entra.Directory(directory.applications,
                                                                   seconds))

    def patches(self) -> list[dict[str, Any]]:
        """The bodies of the management PATCH requests seen, in order."""
        return [json.loads(body) for method, _path, body in self.requests if method == "PATCH"]


@contextmanager
def running(tmp_path: Path, issuer: RunningIssuer, app: dict[str, Any] | None = None,
            listener: Any = Listener) -> Iterator[Local]:
    """The local Azure endpoints, federated with ``issuer``; the app ``batch-detector`` in
    ``rg-batch`` (``app`` its PUT body; default: one container running OLD_IMAGE), ready."""
    cert, key = tls.ensure_certificate(tmp_path)
    directory_file = tmp_path / entra.ENTRA_FILE
    entra.write_directory(directory_file, entra.Directory((entra.Application(
        TENANT, CLIENT, (entra.Credential(issuer.issuer.url, Workflow().subject),)),)))
    runtime = ScriptedRuntime()
    apps = ContainerApps(SUBSCRIPTION, Runner(runtime, PassingProber(), time.time),
                         listener, time.time, tenant=TENANT)

    def jwks(url: str) -> dict[str, object]:
        if url != issuer.issuer.url:
            raise ValueError("not an issuer this directory federates with")
        return issuer.issuer.jwks()

    made = LocalAzure("", apps, entra.Tokens(time.time),
                      lambda: entra.read_directory(directory_file), jwks, "",
                      "acr-refresh-token-for-tests")
    local = Local(made, apps, runtime, cert, directory_file)
    handle = made.handle

    def recorded(method: str, target: str, body: bytes, headers: Any) -> Any:
        local.requests.append((method, target, body.decode(errors="replace")))
        return handle(method, target, body, headers)

    made.handle = recorded  # type: ignore[method-assign]
    server = serve(made, "127.0.0.1", 0, cert, key)
    made.url = f"https://127.0.0.1:{server.server_address[1]}"
    made.acr_host = made.url.removeprefix("https://")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        apps.put_group(SUBSCRIPTION, "rg-batch", {"location": "local"})
        apps.put(SUBSCRIPTION, "rg-batch", "batch-detector", app or {
            "location": "local", "properties": {
                "configuration": {"ingress": {"targetPort": 80}},
                "template": {"containers": [{"name": "api", "image": OLD_IMAGE}]}}})
        apps.reconcile()
        apps.reconcile()
        yield local
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
