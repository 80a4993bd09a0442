"""Seed the container apps ``environments/local.yaml`` names into the local Azure.

As `release local seed` creates the ECS services in moto, this creates, through the
management API and with a token got the way a release gets it (the local issuer's OIDC
token exchanged at the Entra ID endpoint), each app's resource group and the app itself,
running a placeholder image on the port its Dockerfile EXPOSEs (80 when it says none), with
ingress on that port and Azure's default probes. The app registration is first federated
with the subject the local issuer's tokens carry now.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.config.model import AzureAccount, Environment, ServiceDeployment
from release.errors import ReleaseError
from release.local.azure import components
from release.local.state import LocalState

API_VERSION = "2024-03-01"
GROUPS_API_VERSION = "2021-04-01"
DEFAULT_PORT = 80
SEED_WAIT = 60.0  # seconds for a seeded app's first revision to run
EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.IGNORECASE | re.MULTILINE)
Runnable = Callable[[str, "int | None"], str]


def exposed_port(root: Path, dep: ServiceDeployment) -> int:
    """The first port the service's Dockerfile EXPOSEs (80 when none)."""
    try:
        text = (root / dep.service.dockerfile).read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_PORT
    found = EXPOSE.search(text)
    return int(found.group(1)) if found else DEFAULT_PORT


def app_body(state: LocalState, dep: ServiceDeployment, image: str, port: int
             ) -> dict[str, Any]:
    """The container app as seeded: one container, ingress on ``port``, Single mode, pulls
    from the ACR registry with its identity and from the local registry with its login."""
    container = (dep.azure_container_app.container if dep.azure_container_app else None) \
        or dep.name
    return {"location": "local", "tags": {"seeded-by": "release local seed"},
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "environmentId": f"/subscriptions/{components.LOCAL_SUBSCRIPTION}/"
                                 "resourceGroups/local/providers/Microsoft.App/"
                                 "managedEnvironments/local",
                "configuration": {
                    "activeRevisionsMode": "Single",
                    "ingress": {"external": True, "targetPort": port, "transport": "auto",
                                "traffic": [{"latestRevision": True, "weight": 100}]},
                    "registries": [
                        {"server": state.acr_host, "identity": "system"},
                        {"server": state.registry_host, "username": state.registry_username,
                         "passwordSecretRef": "local-registry-password"}],
                    "secrets": [{"name": "local-registry-password",
                                 "value": state.registry_password}]},
                "template": {
                    "containers": [{"name": container, "image": image,
                                    "resources": {"cpu": 0.5, "memory": "1Gi"}}],
                    "scale": {"minReplicas": 1, "maxReplicas": 1}}}}


class Management:
    """The few management calls seeding makes, with one token."""

    def __init__(self, account: AzureAccount, token: str, ca_file: str) -> None:
        self.base = account.management_url.rstrip("/")
        self.token = token
        self.context = ssl.create_default_context(cafile=ca_file)

    def call(self, method: str, path: str, version: str = API_VERSION,
             body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """(status, JSON) of one call; 404 is an answer, other errors raise."""
        request = urllib.request.Request(  # noqa: S310 - the local cloud's https endpoint
            f"{self.base}{path}?api-version={version}", method=method,
            data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30,  # noqa: S310
                                        context=self.context) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            exc.close()
            if exc.code == 404 and method == "GET":
                return 404, None
            raise ReleaseError(f"local Azure: {method} {path}: {exc.code} {text[:300]}",
                               "look at the azure log: `release local status`") from None


def seed_apps(root: Path, env: Environment, state: LocalState, runnable: Runnable
              ) -> list[str]:
    """Create the resource groups and apps of ``env``'s container apps; a line for each."""
    from release.adapters import oidc
    from release.adapters.azure import identity

    wanted = [d for d in env.deployments.values() if d.azure_container_app is not None]
    if not wanted or env.azure is None:
        return []
    components.register(state)
    source = oidc.TokenSource.from_environ(state.environment())
    token = identity.entra_token(env.azure, lambda: source(oidc.AZURE_AUDIENCE),
                                 identity.management_scope(env.azure), state.azure_ca_file)
    api = Management(env.azure, token.token, state.azure_ca_file)
    made = []
    for dep in wanted:
        app = dep.azure_container_app
        assert app is not None  # noqa: S101 - filtered above
        group = f"/subscriptions/{env.azure.subscription_id}/resourcegroups/{app.resource_group}"
        if api.call("GET", group, GROUPS_API_VERSION)[0] == 404:
            api.call("PUT", group, GROUPS_API_VERSION, {"location": "local"})
        path = f"{group}/providers/Microsoft.App/containerApps/{app.name}"
        if api.call("GET", path)[0] != 404:
            made.append(f"container app {app.resource_group}/{app.name} (exists)")
            continue
        port = exposed_port(root, dep)
        image = runnable(dep.service.repository, port)
        api.call("PUT", path, body=app_body(state, dep, image, port))
        settled = _settled(api, path)
        made.append(f"container app {app.resource_group}/{app.name} on {image} ({settled})")
    return made


def _settled(api: Management, path: str, seconds: float = SEED_WAIT) -> str:
    """Wait, as `az containerapp create` does, until the app's first revision settles;
    its provisioningState then (Succeeded, Failed; InProgress when it took too long)."""
    deadline = time.monotonic() + seconds
    while True:
        state = str(api.call("GET", path)[1]["properties"]["provisioningState"])
        if state != "InProgress" or time.monotonic() > deadline:
            return state
        time.sleep(0.25)
