"""Key Vault references in a container app deploy, and an Entra ID session outliving its
token, against the local HTTPS fakes of tests/fakes/azure (no Azure emulator exists).

The GitHub token comes from the local OIDC issuer; the fake Entra ID endpoint hands out
tokens living three seconds (``FakeAzure.token_lifetime``) and the management API refuses one
past its time (401 ExpiredAuthenticationToken), as Azure does. A revision that takes longer
than that to run is still waited for to the end: the session renews its token with a fresh
GitHub assertion at each half-life. Without the renewal the same wait fails (the control).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.azure.server import FakeAzure, serve
from oidc_helpers import RunningIssuer

from release.adapters.azure import container_apps
from release.config.model import AzureAccount, AzureAppDeployment, Environment, Registry
from release.engine import azure
from release.errors import ReleaseError

TENANT = "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"
CLIENT = "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58"
SUBSCRIPTION = "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"
IMAGE = "127.0.0.1/batch-detector@sha256:" + "a" * 64
OLD = "old@sha256:" + "0" * 64
VAULT = "https://kv-batch.vault.azure.net/secrets/api-key"
OTHER = "https://kv-batch.vault.azure.net/secrets/other"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeAzure]:
    made = FakeAzure()
    made.apps["batch-detector"] = {
        "latestRevisionName": "batch-detector--r1",
        "identity": {"type": "SystemAssigned", "principalId": "1" * 8},
        "configuration": {"secrets": [{"name": "other", "keyVaultUrl": OTHER,
                                       "identity": "System"}]},
        "template": {"containers": [{"name": "api", "image": OLD,
                                     "env": [{"name": "KEEP", "value": "1"}]}]}}
    server, thread = serve(made, tmp_path)
    yield made
    server.shutdown()
    server.server_close()
    thread.join(5)


def environment(fake: FakeAzure) -> Environment:
    account = AzureAccount(TENANT, CLIENT, SUBSCRIPTION, authority_url=fake.url,
                           management_url=fake.url)
    return Environment(name="dev", path=Path("environments/dev.yaml"),
                       registry=Registry("acr", "acmebatch.azurecr.io"), deployments={},
                       azure=account)


def session(fake: FakeAzure, issuer: RunningIssuer) -> azure.Session:
    environ = {**issuer.environ(), "REQUESTS_CA_BUNDLE": str(fake.ca_file)}
    return azure.Session(environment(fake), environ)


def patches(fake: FakeAzure) -> list[dict[str, Any]]:
    return [json.loads(body) for method, _path, body in fake.requests if method == "PATCH"]


def quick() -> container_apps.Wait:
    return container_apps.Wait(sleep=lambda _s: None, clock=lambda: 0.0)


def test_key_vault_secrets_are_rendered_into_the_app(fake: FakeAzure,
                                                     issuer: RunningIssuer) -> None:
    app = AzureAppDeployment("batch-detector", "rg-batch", None, environment={"MODE": "fast"},
                             secrets={"API_KEY": VAULT})
    api = session(fake, issuer).api()
    assert container_apps.deploy(api, app, IMAGE, quick()) == "batch-detector--r2"
    (body,) = patches(fake)
    assert body["properties"]["configuration"]["secrets"] == [
        {"name": "other", "keyVaultUrl": OTHER, "identity": "System"},
        {"name": "api-key", "keyVaultUrl": VAULT, "identity": "system"}]
    (container,) = body["properties"]["template"]["containers"]
    assert container["image"] == IMAGE
    assert container["env"] == [{"name": "KEEP", "value": "1"},
                                {"name": "API_KEY", "secretRef": "api-key"},
                                {"name": "MODE", "value": "fast"}]
    now = container_apps.current(api, app)
    assert now.secrets["api-key"] == {"keyVaultUrl": VAULT, "identity": "system"}
    assert now.variables["API_KEY"] == {"secretRef": "api-key"}


def test_a_changed_reference_alone_makes_a_new_revision(fake: FakeAzure,
                                                        issuer: RunningIssuer) -> None:
    api = session(fake, issuer).api()
    first = AzureAppDeployment("batch-detector", "rg-batch", None, secrets={"API_KEY": VAULT})
    container_apps.deploy(api, first, IMAGE, quick())
    moved = AzureAppDeployment("batch-detector", "rg-batch", None,
                               secrets={"API_KEY": VAULT + "/" + "f" * 32})
    assert container_apps.deploy(api, moved, IMAGE, quick()) == "batch-detector--r3"
    second = patches(fake)[1]["properties"]
    assert second["template"]["revisionSuffix"].startswith("r-")
    assert second["configuration"]["secrets"][-1]["keyVaultUrl"] == VAULT + "/" + "f" * 32


def test_an_app_without_the_identity_is_refused_before_any_change(
        fake: FakeAzure, issuer: RunningIssuer) -> None:
    fake.apps["batch-detector"]["identity"] = {"type": "None"}
    app = AzureAppDeployment("batch-detector", "rg-batch", None, secrets={"API_KEY": VAULT})
    with pytest.raises(ReleaseError, match="no system-assigned identity") as caught:
        container_apps.deploy(session(fake, issuer).api(), app, IMAGE, quick())
    assert "--system-assigned" in (caught.value.hint or "")
    assert patches(fake) == []


def slow_revision(fake: FakeAzure) -> None:
    """Tokens living 3 s; a revision that runs after about 6 s of polling every second (a
    token is used at most until half its life is gone: a second or more to spare)."""
    fake.token_lifetime = 3
    fake.revision_states = [("Provisioning", "Processing")] * 6 + [("Provisioned", "Running")]


def test_a_revision_wait_outlives_its_token(fake: FakeAzure, issuer: RunningIssuer) -> None:
    slow_revision(fake)
    app = AzureAppDeployment("batch-detector", "rg-batch", None)
    wait = container_apps.Wait(interval=1, clock=time.monotonic, sleep=time.sleep)
    assert container_apps.deploy(session(fake, issuer).api(), app, IMAGE, wait) == \
        "batch-detector--r2"
    assert len(fake.issued) >= 3  # renewed at least twice, each with a new GitHub token
    posts = [body for method, path, body in fake.requests
             if method == "POST" and path.endswith("/oauth2/v2.0/token")]
    assertions = [part for body in posts for part in body.split("&")
                  if part.startswith("client_assertion=")]
    assert len(set(assertions)) == len(assertions)  # no GitHub assertion reused


def test_without_renewal_the_same_wait_fails(fake: FakeAzure, issuer: RunningIssuer) -> None:
    slow_revision(fake)
    app = AzureAppDeployment("batch-detector", "rg-batch", None)
    live = session(fake, issuer).api()
    frozen = container_apps.Api(live.account, session(fake, issuer).token(), live.ca_file)
    wait = container_apps.Wait(interval=1, clock=time.monotonic, sleep=time.sleep)
    with pytest.raises(ReleaseError, match="401 ExpiredAuthenticationToken"):
        container_apps.deploy(frozen, app, IMAGE, wait)
