"""Key Vault references in a container app deploy, and an Entra ID session outliving its
token, against the local cloud's Azure endpoints (tests/adapters/azure_endpoints.py: its
Entra ID, its Container Apps API, replicas on a scripted runtime).

The GitHub token comes from the local OIDC issuer; the local Entra ID hands out tokens
living three seconds (``token_lifetime_seconds`` in its entra.json) and the management API
refuses one past its time (401 ExpiredAuthenticationToken), as Azure does. A revision that
takes longer than that to run is still waited for to the end: the session renews its
token with a fresh GitHub assertion at each half-life. Without the renewal the same wait
fails (the control).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure_endpoints import CLIENT, OLD_IMAGE, SUBSCRIPTION, TENANT, Local, running
from oidc_helpers import RunningIssuer

from release.adapters.azure import container_apps
from release.config.model import AzureAccount, AzureAppDeployment, Environment, Registry
from release.engine import azure
from release.errors import ReleaseError

IMAGE = "127.0.0.1/batch-detector@sha256:" + "a" * 64
VAULT = "https://kv-batch.vault.azure.net/secrets/api-key"
OTHER = "https://kv-batch.vault.azure.net/secrets/other"
USER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-batch/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch")


def app_body(identity: dict[str, Any]) -> dict[str, Any]:
    """The app before the release: a Key Vault reference of its own, a held value."""
    return {"location": "local", "identity": identity, "properties": {
        "configuration": {"ingress": {"targetPort": 80}, "secrets": [
            {"name": "other", "keyVaultUrl": OTHER, "identity": "system"}
            if "SystemAssigned" in identity["type"] else
            {"name": "other", "keyVaultUrl": OTHER, "identity": USER},
            {"name": "held", "value": "held-value-1234"}]},
        "template": {"containers": [{"name": "api", "image": OLD_IMAGE,
                                     "env": [{"name": "KEEP", "value": "1"}]}]}}}


@pytest.fixture
def local(tmp_path: Path, issuer: RunningIssuer) -> Iterator[Local]:
    with running(tmp_path, issuer, app_body({"type": "SystemAssigned"})) as made:
        yield made


def environment(local: Local) -> Environment:
    account = AzureAccount(TENANT, CLIENT, SUBSCRIPTION, authority_url=local.url,
                           management_url=local.url)
    return Environment(name="dev", path=Path("environments/dev.yaml"),
                       registry=Registry("acr", "acmebatch.azurecr.io"), deployments={},
                       azure=account)


def session(local: Local, issuer: RunningIssuer) -> azure.Session:
    environ = {**issuer.environ(), "REQUESTS_CA_BUNDLE": str(local.ca_file)}
    return azure.Session(environment(local), environ)


def test_key_vault_secrets_are_rendered_into_the_app(local: Local,
                                                     issuer: RunningIssuer) -> None:
    app = AzureAppDeployment("batch-detector", "rg-batch", None, environment={"MODE": "fast"},
                             secrets={"API_KEY": VAULT})
    api = session(local, issuer).api()
    revision = container_apps.deploy(api, app, IMAGE, local.wait())
    (body,) = local.patches()
    assert body["properties"]["configuration"]["secrets"] == [
        {"name": "other", "keyVaultUrl": OTHER, "identity": "system"},
        {"name": "held", "value": "held-value-1234"},  # carried over through listSecrets
        {"name": "api-key", "keyVaultUrl": VAULT, "identity": "system"}]
    assert any(m == "POST" and p.split("?")[0].endswith("/listSecrets")
               for m, p, _ in local.requests)
    (container,) = body["properties"]["template"]["containers"]
    assert container["image"] == IMAGE
    assert container["env"] == [{"name": "KEEP", "value": "1"},
                                {"name": "API_KEY", "secretRef": "api-key"},
                                {"name": "MODE", "value": "fast"}]
    now = container_apps.current(api, app)
    assert now.revision == revision
    assert now.secrets["api-key"] == {"keyVaultUrl": VAULT, "identity": "system"}
    assert now.variables["API_KEY"] == {"secretRef": "api-key"}
    # what the replica is started with: the reference, resolved by the runtime
    spec, _ = local.runtime.tasks[f"arn:local:containerapps:local:{SUBSCRIPTION}:replica/"
                                  f"{revision}-0"]
    (definition,) = spec.task_definition["containerDefinitions"]
    assert {"name": "API_KEY", "valueFrom": f"containerapp-secret:{app_path()}#api-key"} in \
        definition["secrets"]


def app_path() -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-batch/providers/"
            "Microsoft.App/containerApps/batch-detector")


def test_a_changed_reference_alone_makes_a_new_revision(local: Local,
                                                        issuer: RunningIssuer) -> None:
    api = session(local, issuer).api()
    first = AzureAppDeployment("batch-detector", "rg-batch", None, secrets={"API_KEY": VAULT})
    one = container_apps.deploy(api, first, IMAGE, local.wait())
    moved = AzureAppDeployment("batch-detector", "rg-batch", None,
                               secrets={"API_KEY": VAULT + "/" + "f" * 32})
    two = container_apps.deploy(api, moved, IMAGE, local.wait())
    assert two != one
    second = local.patches()[1]["properties"]
    assert two == f"batch-detector--{second['template']['revisionSuffix']}"
    assert second["template"]["revisionSuffix"].startswith("r-")
    assert second["configuration"]["secrets"][-1]["keyVaultUrl"] == VAULT + "/" + "f" * 32


def test_an_app_without_the_identity_is_refused_before_any_change(
        tmp_path: Path, issuer: RunningIssuer) -> None:
    body = app_body({"type": "None"})
    body["properties"]["configuration"]["secrets"] = []
    with running(tmp_path, issuer, body) as local:
        app = AzureAppDeployment("batch-detector", "rg-batch", None, secrets={"API_KEY": VAULT})
        with pytest.raises(ReleaseError, match="no system-assigned identity") as caught:
            container_apps.deploy(session(local, issuer).api(), app, IMAGE, local.wait())
        assert "--system-assigned" in (caught.value.hint or "")
        assert local.patches() == []


def test_a_user_assigned_identity_reads_the_vault(tmp_path: Path,
                                                  issuer: RunningIssuer) -> None:
    identity = {"type": "UserAssigned", "userAssignedIdentities": {USER: {}}}
    with running(tmp_path, issuer, app_body(identity)) as local:
        app = AzureAppDeployment("batch-detector", "rg-batch", None, secrets={"API_KEY": VAULT},
                                 identity=USER)
        api = session(local, issuer).api()
        container_apps.deploy(api, app, IMAGE, local.wait())
        assert container_apps.current(api, app).secrets["api-key"] == {
            "keyVaultUrl": VAULT, "identity": USER}


def test_the_api_refuses_a_reference_through_an_identity_the_app_lacks(
        local: Local, issuer: RunningIssuer) -> None:
    """What Azure answers when the release's own check is bypassed: the same refusal."""
    api = session(local, issuer).api()
    with pytest.raises(ReleaseError, match=r"InvalidParameterValueInContainerTemplate.*"
                                           "not assigned to the container app"):
        api.call("PATCH", app_path(), {"properties": {"configuration": {"secrets": [
            {"name": "x", "keyVaultUrl": VAULT, "identity": USER}]}}})
    with pytest.raises(ReleaseError, match="ContainerAppSecretKeyVaultUrlInvalid"):
        api.call("PATCH", app_path(), {"properties": {"configuration": {"secrets": [
            {"name": "x", "keyVaultUrl": "https://10.0.0.1/secrets/x", "identity": "system"}]}}})
    with pytest.raises(ReleaseError, match="Unable to locate secret with name nope"):
        api.call("PATCH", app_path(), {"properties": {"template": {"containers": [
            {"name": "api", "image": IMAGE, "env": [{"name": "X", "secretRef": "nope"}]}]}}})
    assert local.apps.app(SUBSCRIPTION, "rg-batch", "batch-detector").template[
        "containers"][0]["image"] == OLD_IMAGE  # nothing half-done


def slow_revision(local: Local) -> container_apps.Wait:
    """Tokens living 3 s; a revision that runs after about 6 s of polling every second (a
    token is used at most until half its life is gone: a second or more to spare)."""
    local.token_lifetime(3)
    local.runtime.script = ["PENDING"] * 6 + ["RUNNING"]

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        local.apps.reconcile()
    return container_apps.Wait(interval=1, clock=time.monotonic, sleep=sleep)


def test_a_revision_wait_outlives_its_token(local: Local, issuer: RunningIssuer) -> None:
    wait = slow_revision(local)
    app = AzureAppDeployment("batch-detector", "rg-batch", None)
    revision = container_apps.deploy(session(local, issuer).api(), app, IMAGE, wait)
    assert revision.startswith("batch-detector--")
    posts = [body for method, path, body in local.requests
             if method == "POST" and path.endswith("/oauth2/v2.0/token")]
    assert len(posts) >= 3  # renewed at least twice, each with a new GitHub token
    assertions = [part for body in posts for part in body.split("&")
                  if part.startswith("client_assertion=")]
    assert len(set(assertions)) == len(assertions)  # no GitHub assertion reused


def test_without_renewal_the_same_wait_fails(local: Local, issuer: RunningIssuer) -> None:
    wait = slow_revision(local)
    app = AzureAppDeployment("batch-detector", "rg-batch", None)
    live = session(local, issuer).api()
    frozen = container_apps.Api(live.account, session(local, issuer).token(), live.ca_file)
    with pytest.raises(ReleaseError, match="401 ExpiredAuthenticationToken"):
        container_apps.deploy(frozen, app, IMAGE, wait)
