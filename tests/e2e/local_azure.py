"""The local cloud's Azure as tests reach it: its account, a management client, an app
environment file for a sandbox, and the app seeded there."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from release.adapters import oidc
from release.adapters.azure import identity
from release.config import load_config
from release.config.model import AzureAccount
from release.local import placeholder, sandbox
from release.local.azure import components
from release.local.azure.seed import API_VERSION, Management, seed_apps
from release.local.state import LocalState

GROUP = "rg-batch-detector-local"


def account(state: LocalState) -> AzureAccount:
    """The local directory's app registration and subscription, at this cloud's endpoints."""
    return AzureAccount(components.LOCAL_TENANT, components.LOCAL_CLIENT,
                        components.LOCAL_SUBSCRIPTION, authority_url=state.azure_url,
                        management_url=state.azure_url,
                        acr_exchange_url=f"{state.azure_url}/oauth2/exchange")


def management(state: LocalState) -> Management:
    """Management calls with a token got as a release gets it."""
    source = oidc.TokenSource.from_environ(state.environment())
    made = account(state)
    token = identity.entra_token(made, lambda: source(oidc.AZURE_AUDIENCE),
                                 identity.management_scope(made), state.azure_ca_file)
    return Management(made, token.token, state.azure_ca_file)


def app_path(name: str, group: str = GROUP) -> str:
    """The app's resource path."""
    return (f"/subscriptions/{components.LOCAL_SUBSCRIPTION}/resourceGroups/{group}"
            f"/providers/Microsoft.App/containerApps/{name}")


def get(state: LocalState, path: str) -> Any:
    """GET a management path (raises on errors other than 404)."""
    return management(state).call("GET", path, API_VERSION)[1]


def write_environment(root: Path, state: LocalState, name: str, app: str) -> None:
    """environments/<name>.yaml: Azure only (no aws block), batch-detector on ``app``;
    committed, and the app seeded (its resource group too)."""
    made = account(state)
    environment = {
        "name": name,
        "azure": {"tenant_id": made.tenant_id, "client_id": made.client_id,
                  "subscription_id": made.subscription_id, "authority_url": state.azure_url,
                  "management_url": state.azure_url,
                  "acr_exchange_url": made.acr_exchange_url},
        "registry": {"type": "acr", "host": state.acr_host},
        "services": {"batch-detector": {"azure_container_app": {
            "name": app, "resource_group": GROUP}}},
    }
    (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(environment))
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", name)
    env = load_config(root, (name,)).environments[name]
    seed_apps(root, env, state, placeholder.maker(state))


def manifest_status(state: LocalState, repository: str, reference: str) -> int:
    """HEAD a manifest on the ACR registry over TLS, as the ACR user."""
    request = urllib.request.Request(
        f"https://{state.acr_host}/v2/{repository}/manifests/{reference}", method="HEAD")
    basic = base64.b64encode(f"{components.ACR_USERNAME}:{state.acr_password}".encode())
    request.add_header("Authorization", f"Basic {basic.decode()}")
    request.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json, "
                       "application/vnd.oci.image.manifest.v1+json, "
                       "application/vnd.oci.image.index.v1+json")
    context = ssl.create_default_context(cafile=state.azure_ca_file)
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return int(response.status)


def page(url: str) -> tuple[int, str]:
    """GET ``url`` (the app's ingress): status and body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
            return int(answer.status), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), ""


def revision(state: LocalState, app: str, name: str) -> dict[str, Any]:
    """A revision's properties."""
    found: dict[str, Any] = get(state, f"{app_path(app)}/revisions/{name}")["properties"]
    return found


def dumps(value: Any) -> str:
    """For assertion messages."""
    return json.dumps(value, indent=1)[:2000]
