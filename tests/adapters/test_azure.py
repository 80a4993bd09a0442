"""Azure adapters (Entra ID token, ACR exchange, container app deploy) against the local
cloud's Azure endpoints, served in this process over TLS on 127.0.0.1.

The endpoints are the local cloud's own code (release.local.azure: Entra ID, the ACR
exchange, the Container Apps API). Only the engine is replaced: replicas run on a scripted
runtime (the ECS ``Runtime`` Protocol) and probes answer as scripted, because these tests
need outcomes the engine cannot show on demand and quickly: a revision that never becomes
ready (until the adapter's deadline), a container that exits with a given code. The same
calls against real containers are in tests/e2e/test_azure_deploy.py and test_azure_local.py.
The adapter's waits run one reconcile pass of the control plane each, so they are counted.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure_endpoints import CLIENT, SUBSCRIPTION, TENANT, Local, running
from oidc_helpers import RunningIssuer

from release.adapters import oidc
from release.adapters.azure import acr, container_apps, identity
from release.commands import auth
from release.config.model import AzureAppDeployment
from release.engine import azure
from release.errors import ReleaseError

IMAGE = "127.0.0.1/batch-detector@sha256:" + "a" * 64
APP = AzureAppDeployment("batch-detector", "rg-batch", None)


@pytest.fixture
def local(tmp_path: Path, issuer: RunningIssuer) -> Iterator[Local]:
    """The local Azure endpoints, federated with ``issuer``; one app running OLD_IMAGE."""
    with running(tmp_path, issuer) as made:
        yield made



def test_entra_token_from_a_github_token(local: Local, issuer: RunningIssuer) -> None:
    source = oidc.TokenSource.from_environ(issuer.environ())
    got = identity.entra_token(local.account(), lambda: source(oidc.AZURE_AUDIENCE),
                               identity.management_scope(local.account()), str(local.ca_file))
    assert local.azure.tokens.check(got.token) is None  # one the endpoint issued, valid
    assert got.token not in repr(got)
    assert got.expires_on > time.time() + 3000


def test_a_wrong_subject_is_refused_as_entra_does(local: Local, issuer: RunningIssuer) -> None:
    issuer.claims_file.write_text('{"repository": "someone/else", "environment": "prod"}')
    with pytest.raises(ReleaseError, match="AADSTS700213") as caught:
        local.token(issuer)
    assert "repo:someone/else:environment:prod" in caught.value.message
    assert "federated credential" in (caught.value.hint or "")


def test_untrusted_certificate_is_refused(local: Local) -> None:
    with pytest.raises(ReleaseError, match="cannot reach ACR"):
        acr.login(local.host, "any", TENANT)


def test_acr_exchange_gives_a_docker_login(local: Local, issuer: RunningIssuer) -> None:
    login = acr.login(local.host, local.token(issuer), TENANT, str(local.ca_file))
    assert login.username == "00000000-0000-0000-0000-000000000000"
    assert login.password == local.azure.acr_password


def test_acr_refusal_names_the_role(local: Local) -> None:
    with pytest.raises(ReleaseError, match=r"refused the Entra ID token \(401\)") as caught:
        acr.login(local.host, "wrong", TENANT, str(local.ca_file))
    assert "AcrPush" in (caught.value.hint or "")


def test_container_app_deploy_waits_until_the_revision_runs(
        local: Local, issuer: RunningIssuer) -> None:
    sleeps: list[float] = []
    api = local.api(issuer)
    before = container_apps.current(api, APP)
    revision = container_apps.deploy(api, APP, IMAGE, local.wait(sleeps))
    assert revision.startswith("batch-detector--")
    assert revision != before.revision
    now = container_apps.current(api, APP)
    assert (now.image, now.revision) == (IMAGE, revision)
    assert now.url == "http://127.0.0.1:18080"
    assert len(sleeps) == 2  # Provisioning while PENDING, then RUNNING and probed once


def test_a_failed_revision_fails_with_its_reason(local: Local, issuer: RunningIssuer) -> None:
    api = local.api(issuer)
    serving = container_apps.current(api, APP)
    local.runtime.script = ["PENDING", "EXIT 1"]
    with pytest.raises(ReleaseError, match="exit code '1'") as caught:
        container_apps.deploy(api, APP, IMAGE, local.wait())
    assert "is Provisioned/Failed" in caught.value.message
    assert "previous revision keeps serving" in (caught.value.hint or "")
    # What serves is still the old revision, so the image is not counted as deployed.
    assert container_apps.current(api, APP) == serving

    # A release of the same image again makes a new revision (the app holds that image).
    local.runtime.script = ["RUNNING"]
    again = container_apps.deploy(api, APP, IMAGE, local.wait())
    assert container_apps.current(api, APP).revision == again


def test_a_revision_that_never_runs_times_out(local: Local, issuer: RunningIssuer) -> None:
    local.runtime.script = ["PENDING"]
    ticks = iter(range(0, 10_000, 10))
    with pytest.raises(ReleaseError, match="not running after 60s"):
        container_apps.deploy(local.api(issuer), APP, IMAGE, local.wait(
            deadline_seconds=60, clock=lambda: float(next(ticks))))


def test_unknown_app_is_explained(local: Local, issuer: RunningIssuer) -> None:
    with pytest.raises(ReleaseError, match="404 ResourceNotFound"):
        container_apps.deploy(local.api(issuer), AzureAppDeployment("nope", "rg-batch", None),
                              IMAGE, local.wait())


@pytest.mark.parametrize(("container", "error"), [("web", "no container 'web'")])
def test_the_container_must_exist(container: str, error: str) -> None:
    with pytest.raises(ReleaseError, match=error):
        container_apps.with_image({"containers": [{"name": "api"}]}, container, IMAGE)


def test_auth_azure_masks_every_token_under_github(
        local: Local, issuer: RunningIssuer, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "services" / "api").mkdir(parents=True)
    (root / "services" / "api" / "Dockerfile").write_text("FROM scratch\n")
    (root / "release.yaml").write_text(
        "version: 1\nservices:\n  batch-detector:\n    context: services/api\n"
        "    azure_container_app: {}\n")
    (root / "environments").mkdir()
    (root / "environments" / "az.yaml").write_text(
        f"name: az\nazure:\n  tenant_id: {TENANT}\n  client_id: {CLIENT}\n"
        f"  subscription_id: {SUBSCRIPTION}\n  authority_url: {local.url}\n"
        f"  management_url: {local.url}\nregistry:\n  type: acr\n"
        f"  host: \"{local.host}\"\nservices:\n  batch-detector:\n"
        "    azure_container_app: {name: batch-detector, resource_group: rg-batch}\n")
    stdout, logins = io.StringIO(), []
    environ = {**issuer.environ(), "GITHUB_ACTIONS": "true",
               "REQUESTS_CA_BUNDLE": str(local.ca_file)}
    result = auth.run_azure(auth.AzureOptions(root, "az", environ),
                            azure.Deps(docker_login=logins.append, stdout=stdout))
    masked = [line.removeprefix("::add-mask::") for line in stdout.getvalue().splitlines()]
    refresh = local.azure.acr_password
    assert refresh in masked
    issued = [token for token in masked if local.azure.tokens.check(token) is None]
    assert len(issued) == 1  # the Entra ID access token
    assert masked[0].count(".") == 2  # the GitHub token itself
    assert logins[0].password == refresh
    for secret in (refresh, *issued):
        assert secret not in result.to_text() + result.to_json()
