"""`release deploy` of an Azure container app: ACR login, push over TLS, revision wait.

No Azure emulator exists. What can be real is: the Docker engine and a registry
(Debian's docker-registry) serving TLS on 127.0.0.1 behind htpasswd, with the ACR user
name and the refresh token the exchange hands out; and the GitHub OIDC token from the
private local cloud's issuer. Entra ID's token endpoint, ACR's /oauth2/exchange and the
container apps management API are the local HTTPS fakes of tests/fakes/azure. The fakes
and the registry share one self-signed certificate (made at test time): REQUESTS_CA_BUNDLE
names it for release, and dockerd trusts it through /etc/docker/certs.d/127.0.0.1:PORT/.
The exchange cannot live on the registry's own host:port, so the environment's
azure.acr_exchange_url points at the fake (its default is https://<registry>/oauth2/exchange).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.azure.server import FakeAzure, serve
from private_cloud import REPO, local_environ, private_cloud

from release.adapters.azure.acr import ACR_USERNAME
from release.cli import main
from release.commands import deploy
from release.local import registry as registry_config
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

TENANT = "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"
CLIENT = "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58"
SUBSCRIPTION = "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"
TLS_PORT = 19503  # next to the private cloud's 19500-19502
HOST = f"127.0.0.1:{TLS_PORT}"
APP = "azl-batch-detector"
OLD_IMAGE = "old.azurecr.io/batch-detector@sha256:" + "0" * 64
CERTS_D = Path("/etc/docker/certs.d") / HOST


@dataclass
class Azure:
    """The private cloud, the TLS registry and the fakes, as the tests see them."""

    state: LocalState
    fake: FakeAzure


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module only (19500-19502): its Docker engine and OIDC issuer."""
    with private_cloud(tmp_path_factory, 19500) as state:
        yield state


def _wait_for_tls(url: str, context: ssl.SSLContext, process: subprocess.Popen[bytes],
                  log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # 401: it answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"docker-registry did not answer on {url}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def azure(cloud_state: LocalState, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Azure]:
    """HTTPS fakes, and docker-registry with TLS on 127.0.0.1:19503; all stopped after."""
    directory = tmp_path_factory.mktemp("azure")
    fake = FakeAzure()
    server, thread = serve(fake, directory)
    cert, key = fake.ca_file, directory / "fake-azure.key"
    state_dir = directory / "tls-registry"
    registry_config.write_htpasswd(state_dir, ACR_USERNAME, fake.refresh_token)
    config = registry_config.write_config(state_dir, "127.0.0.1", TLS_PORT, tls=(cert, key))
    # Remove afterwards exactly what is created here (certs.d itself may be new too).
    created = [p for p in (CERTS_D.parent, CERTS_D) if not p.exists()]
    CERTS_D.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cert, CERTS_D / "ca.crt")
    log = state_dir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(registry_config.argv(config), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_for_tls(f"https://{HOST}/v2/", ssl.create_default_context(cafile=str(cert)),
                      process, log)
        yield Azure(cloud_state, fake)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        (CERTS_D / "ca.crt").unlink(missing_ok=True)
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()


@pytest.fixture
def fake(azure: Azure, monkeypatch: pytest.MonkeyPatch) -> FakeAzure:
    """The fakes, reset: one app running an old image; the job's GitHub OIDC environment."""
    made = azure.fake
    made.apps.clear()
    made.apps[APP] = {"latestRevisionName": f"{APP}--r1", "template": {
        "containers": [{"name": "batch-detector", "image": OLD_IMAGE}]}}
    # Provisioning for three polls, then Provisioned and Running.
    made.revision_states = [("Provisioning", "Processing")] * 3 + [("Provisioned", "Running")]
    made.revision_error = ""
    made.requests.clear()
    made._revisions.clear()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", azure.state.oidc_request_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", azure.state.oidc_request_token)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(made.ca_file))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return made


@pytest.fixture
def repo(tmp_path: Path, azure: Azure, fake: FakeAzure) -> Path:
    """The examples in a fresh git repository, plus environments/azlocal.yaml (Azure only:
    no aws block), committed."""
    root = sandbox.make(REPO, tmp_path / "repo", aws_endpoint=azure.state.aws_endpoint_url,
                        registry_host=azure.state.registry_host)
    environment = {
        "name": "azlocal",
        "azure": {"tenant_id": TENANT, "client_id": CLIENT, "subscription_id": SUBSCRIPTION,
                  "authority_url": fake.url, "management_url": fake.url,
                  "acr_exchange_url": f"{fake.url}/oauth2/exchange"},
        "registry": {"type": "acr", "host": HOST},
        "services": {"batch-detector": {"azure_container_app": {
            "name": APP, "resource_group": "rg-batch-detector-local"}}},
    }
    (root / "environments" / "azlocal.yaml").write_text(yaml.safe_dump(environment))
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "azlocal")
    return root


def _release(root: Path) -> tuple[deploy.Result, list[float]]:
    """`release deploy --env azlocal`, in-process, with a fake clock and recorded sleeps."""
    sleeps: list[float] = []
    ticks = itertools.count()
    result = deploy.run(deploy.Options(root, "azlocal"), deploy.Deps(
        clock=lambda: float(next(ticks)), sleep=sleeps.append,
        aws=lambda _env: pytest.fail("an Azure-only deploy made AWS clients"),
        environ=os.environ))
    return result, sleeps


def _manifest_status(fake: FakeAzure, reference: str) -> int:
    """HEAD the manifest on the TLS registry with the ACR refresh-token credentials."""
    request = urllib.request.Request(
        f"https://{HOST}/v2/batch-detector/manifests/{reference}", method="HEAD")
    basic = base64.b64encode(f"{ACR_USERNAME}:{fake.refresh_token}".encode()).decode()
    request.add_header("Authorization", f"Basic {basic}")
    request.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json, "
                       "application/vnd.oci.image.manifest.v1+json, "
                       "application/vnd.oci.image.index.v1+json")
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return int(response.status)


def _patches(fake: FakeAzure) -> list[dict[str, Any]]:
    return [json.loads(body) for method, _path, body in fake.requests if method == "PATCH"]


def test_deploy_pushes_to_the_tls_registry_and_waits_for_the_revision(
        repo: Path, fake: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    result, sleeps = _release(repo)
    assert result.exit_code == 0, result.to_text()
    [outcome] = result.outcomes
    assert (outcome.service, outcome.target, outcome.status) == (
        "batch-detector", "azure_container_app", "deployed")
    assert outcome.built is True
    assert outcome.digest is not None
    assert outcome.digest.startswith("sha256:")
    assert _manifest_status(fake, outcome.digest) == 200  # pushed, over TLS, as the ACR user

    image = f"{HOST}/batch-detector@{outcome.digest}"
    [patch] = _patches(fake)
    assert patch["properties"]["template"]["containers"] == [
        {"name": "batch-detector", "image": image}]
    # Provisioning three times, each followed by one wait; the fourth poll is Running.
    revision_polls = [r for r in fake.requests if r[1].split("?")[0].endswith(f"{APP}--r2")]
    assert len(revision_polls) == 4
    assert sleeps == [5, 5, 5]
    assert outcome.detail == f"revision {APP}--r2"
    exchanges = [r for r in fake.requests if r[1] == "/oauth2/exchange"]
    assert len(exchanges) == 1
    assert "service=127.0.0.1%3A19503" in exchanges[0][2]
    # One Entra ID token for the whole deploy: login, observe and update share it.
    assert len([r for r in fake.requests if r[1].endswith("/oauth2/v2.0/token")]) == 1

    # Second release, through the command line: nothing built, no PATCH.
    before = len(_patches(fake))
    code = main(["deploy", "--env", "azlocal", "--root", str(repo), "--output", "json"],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert code == 0, err
    [again] = json.loads(out)["data"]["results"]
    assert (again["built"], again["updated"], again["status"]) == (False, False, "unchanged")
    assert again["digest"] == outcome.digest
    assert again["detail"] == f"revision {APP}--r2"
    assert len(_patches(fake)) == before
    assert "Traceback" not in err


def test_a_failed_revision_fails_the_deploy_with_its_reason(
        repo: Path, fake: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    fake.revision_states = [("Provisioning", "Processing"), ("Failed", "Failed")]
    fake.revision_error = "Container 'batch-detector' exited with code 127: httpd not found"
    result, _ = _release(repo)
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert outcome.status == "failed"
    assert "httpd not found" in outcome.message
    assert f"{APP}--r2 is Failed/Failed" in outcome.message
    assert "previous revision keeps serving" in (outcome.hint or "")
    assert len(_patches(fake)) == 1

    # The same through the command line (failing at the first poll: no real wait):
    # exit 1, the reason printed, no traceback.
    fake.revision_states = [("Failed", "Failed")]
    fake.apps[APP]["template"]["containers"][0]["image"] = OLD_IMAGE
    code = main(["deploy", "--env", "azlocal", "--root", str(repo)], environ=local_environ())
    out, err = capsys.readouterr()
    assert code == 1
    assert "httpd not found" in out + err
    assert "Traceback" not in out + err
