"""Azure: Entra ID token, ACR exchange and container app deploy, against local HTTPS fakes.

No Azure emulator exists, so tests/fakes/azure serves Entra ID's token endpoint, ACR's
/oauth2/exchange and the container apps management API over TLS on 127.0.0.1, with a
self-signed certificate made at test time. The GitHub token comes from the local issuer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.azure.server import FakeAzure, serve
from oidc_helpers import RunningIssuer

from release.adapters import oidc
from release.adapters.azure import acr, container_apps, identity
from release.commands import auth
from release.config.model import AzureAccount, AzureAppDeployment
from release.engine import azure
from release.errors import ReleaseError

TENANT = "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"
CLIENT = "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58"
SUBSCRIPTION = "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"
IMAGE = "127.0.0.1/batch-detector@sha256:" + "a" * 64


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeAzure]:
    made = FakeAzure()
    made.apps["batch-detector"] = {"latestRevisionName": "batch-detector--r1", "template": {
        "containers": [{"name": "api", "image": "old@sha256:" + "0" * 64}]}}
    server, thread = serve(made, tmp_path)
    yield made
    server.shutdown()
    server.server_close()
    thread.join(5)


def account(fake: FakeAzure) -> AzureAccount:
    return AzureAccount(TENANT, CLIENT, SUBSCRIPTION, authority_url=fake.url,
                        management_url=fake.url)


def test_entra_token_from_a_github_token(fake: FakeAzure, issuer: RunningIssuer) -> None:
    source = oidc.TokenSource.from_environ(issuer.environ())
    got = identity.entra_token(account(fake), lambda: source(oidc.AZURE_AUDIENCE),
                               identity.management_scope(account(fake)), str(fake.ca_file))
    assert got.token == fake.access_token
    assert fake.access_token not in repr(got)
    (post,) = [r for r in fake.requests if r[1].endswith("/oauth2/v2.0/token")]
    assert post[1] == f"/{TENANT}/oauth2/v2.0/token"
    assert "client_assertion=" in post[2]
    assert f"client_id={CLIENT}" in post[2]


def test_untrusted_certificate_is_refused(fake: FakeAzure) -> None:
    with pytest.raises(ReleaseError, match="cannot reach ACR"):
        acr.login(fake.url.removeprefix("https://"), fake.access_token, TENANT)


def test_acr_exchange_gives_a_docker_login(fake: FakeAzure) -> None:
    host = fake.url.removeprefix("https://")
    login = acr.login(host, fake.access_token, TENANT, str(fake.ca_file))
    assert login.username == "00000000-0000-0000-0000-000000000000"
    assert login.password == fake.refresh_token
    assert f"service={host.replace(':', '%3A')}" in fake.requests[-1][2]
    assert "grant_type=access_token" in fake.requests[-1][2]


def test_acr_refusal_names_the_role(fake: FakeAzure) -> None:
    with pytest.raises(ReleaseError, match=r"refused the Entra ID token \(401\)") as caught:
        acr.login(fake.url.removeprefix("https://"), "wrong", TENANT, str(fake.ca_file))
    assert "AcrPush" in (caught.value.hint or "")


def _api(fake: FakeAzure) -> container_apps.Api:
    return container_apps.Api(account(fake), fake.access_token, str(fake.ca_file))


APP = AzureAppDeployment("batch-detector", "rg-batch", None)


def test_container_app_deploy_waits_until_the_revision_runs(fake: FakeAzure) -> None:
    sleeps: list[float] = []
    revision = container_apps.deploy(_api(fake), APP, IMAGE, container_apps.Wait(
        sleep=sleeps.append, clock=lambda: 0.0))
    assert revision == "batch-detector--r2"
    assert fake.apps["batch-detector"]["template"]["containers"][0]["image"] == IMAGE
    assert len(sleeps) == 1  # Provisioning/Processing once, then Provisioned/Running


def test_a_failed_revision_fails_with_its_reason(fake: FakeAzure) -> None:
    fake.revision_states = [("Provisioning", "Processing"), ("Failed", "Failed")]
    fake.revision_error = "Container 'api' exited with code 1: ModuleNotFoundError"
    with pytest.raises(ReleaseError, match="ModuleNotFoundError") as caught:
        container_apps.deploy(_api(fake), APP, IMAGE, container_apps.Wait(
            sleep=lambda _s: None, clock=lambda: 0.0))
    assert "batch-detector--r2 is Failed/Failed" in caught.value.message


def test_a_revision_that_never_runs_times_out(fake: FakeAzure) -> None:
    fake.revision_states = [("Provisioned", "Processing")]
    ticks = iter(range(0, 10_000, 10))
    with pytest.raises(ReleaseError, match="not running after 60s"):
        container_apps.deploy(_api(fake), APP, IMAGE, container_apps.Wait(
            deadline_seconds=60, sleep=lambda _s: None, clock=lambda: float(next(ticks))))


def test_unknown_app_is_explained(fake: FakeAzure) -> None:
    with pytest.raises(ReleaseError, match="404 ResourceNotFound"):
        container_apps.deploy(_api(fake), AzureAppDeployment("nope", "rg", None), IMAGE,
                              container_apps.Wait(sleep=lambda _s: None))


@pytest.mark.parametrize(("container", "error"), [("web", "no container 'web'")])
def test_the_container_must_exist(container: str, error: str) -> None:
    with pytest.raises(ReleaseError, match=error):
        container_apps.with_image({"containers": [{"name": "api"}]}, container, IMAGE)


def test_auth_azure_masks_every_token_under_github(
        fake: FakeAzure, issuer: RunningIssuer, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "services" / "api").mkdir(parents=True)
    (root / "services" / "api" / "Dockerfile").write_text("FROM scratch\n")
    (root / "release.yaml").write_text(
        "version: 1\nservices:\n  batch-detector:\n    context: services/api\n"
        "    azure_container_app: {}\n")
    (root / "environments").mkdir()
    (root / "environments" / "az.yaml").write_text(
        f"name: az\nazure:\n  tenant_id: {TENANT}\n  client_id: {CLIENT}\n"
        f"  subscription_id: {SUBSCRIPTION}\n  authority_url: {fake.url}\n"
        f"  management_url: {fake.url}\nregistry:\n  type: acr\n"
        f"  host: \"{fake.url.removeprefix('https://')}\"\nservices:\n  batch-detector:\n"
        "    azure_container_app: {name: batch-detector, resource_group: rg-batch}\n")
    stdout, logins = io.StringIO(), []
    environ = {**issuer.environ(), "GITHUB_ACTIONS": "true",
               "REQUESTS_CA_BUNDLE": str(fake.ca_file)}
    result = auth.run_azure(auth.AzureOptions(root, "az", environ),
                            azure.Deps(docker_login=logins.append, stdout=stdout))
    masked = stdout.getvalue().splitlines()
    assert f"::add-mask::{fake.access_token}" in masked
    assert f"::add-mask::{fake.refresh_token}" in masked
    assert masked[0].count(".") == 2  # the GitHub token itself
    assert logins[0].password == fake.refresh_token
    assert fake.refresh_token not in result.to_text() + result.to_json()
    assert fake.access_token not in result.to_text() + result.to_json()
