"""Key Vault references and short-lived Entra ID tokens, through `release deploy`, on the
local cloud's Azure (its own private cloud: 16400-16404).

The local Key Vault is ``<state>/azure/keyvault.json`` (release.local.azure.keyvault): the
test stores a secret there as `az keyvault secret set` would; the release renders the
reference into the app (``keyVaultUrl`` + the app's system-assigned identity, the variable
through ``secretRef``); the local cloud fetches the value when the revision's replica
starts and puts it in the container's environment. A CGI page of the test's own build
answers whether the variable is set and the SHA-256 of its value (never the value).
Entra ID's token lifetime comes from ``<state>/azure/entra.json`` (token_lifetime_seconds).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from local_azure import app_path, get, page, revision, write_environment
from private_cloud import REPO, private_cloud

from release.commands import deploy
from release.local import sandbox
from release.local.azure import components, entra, keyvault
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

VALUE = "kv-value-for-the-detector-7f3a"
URL = "https://kv-batch.vault.azure.net/secrets/detector-api-key"
CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if [ -n "$API_KEY" ]; then
  printf 'API_KEY set %s\\n' "$(printf %s "$API_KEY" | sha256sum | cut -d' ' -f1)"
else
  echo 'API_KEY unset'
fi
"""


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module only (16400-16404), Azure included."""
    with private_cloud(tmp_path_factory, 16400) as state:
        yield state


@pytest.fixture
def environ(cloud_state: LocalState, monkeypatch: pytest.MonkeyPatch) -> LocalState:
    """The job's GitHub OIDC environment and the certificate to trust; no AWS."""
    for key, value in cloud_state.environment().items():
        if not key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GITHUB_ACTIONS",
                 "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return cloud_state


def _repo(tmp_path: Path, state: LocalState, app: str, secret_url: str,
          deployment: dict[str, object] | None = None) -> Path:
    """The examples with environments/azlocal.yaml (Azure only, the app seeded), the
    service's API_KEY read from ``secret_url`` (and ``deployment``, if given), and the CGI
    page that reports it."""
    root = sandbox.make(REPO, tmp_path / "repo", aws_endpoint=state.aws_endpoint_url,
                        registry_host=state.registry_host,
                        azure=(state.azure_url, state.acr_host))
    write_environment(root, state, "azlocal", app)
    path = root / "environments" / "azlocal.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"]["batch-detector"]["azure_container_app"]["secrets"] = {
        "API_KEY": secret_url}
    if deployment is not None:
        data["services"]["batch-detector"]["azure_container_app"]["deployment"] = deployment
    path.write_text(yaml.safe_dump(data))
    (root / "services" / "batch-detector" / "app" / "cgi-bin" / "keyset").write_text(CGI)
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "API_KEY from Key Vault")
    return root


def _release(root: Path) -> deploy.Result:
    """`release deploy --env azlocal`, in-process, waits shortened."""
    return deploy.run(deploy.Options(root, "azlocal"), deploy.Deps(
        sleep=lambda seconds: time.sleep(min(seconds, 0.5)),
        aws=lambda _env: pytest.fail("an Azure-only deploy made AWS clients"),
        environ=os.environ))


def test_a_key_vault_reference_reaches_the_running_replica(
        tmp_path: Path, environ: LocalState) -> None:
    state, app = environ, "kv-detector"
    keyvault.set_secret(components.folder(state) / keyvault.KEY_VAULT_FILE, "kv-batch",
                        "detector-api-key", VALUE)
    root = _repo(tmp_path, state, app, URL)
    result = _release(root)
    assert result.exit_code == 0, result.to_text()
    [outcome] = result.outcomes
    assert VALUE not in result.to_text() + result.to_json()
    props = get(state, app_path(app))["properties"]
    secrets = {s["name"]: s for s in props["configuration"]["secrets"]}
    assert secrets["api-key"] == {"name": "api-key", "keyVaultUrl": URL, "identity": "system"}
    running = revision(state, app, props["latestRevisionName"])
    assert {"name": "API_KEY", "secretRef": "api-key"} in \
        running["template"]["containers"][0]["env"]
    assert VALUE not in str(props)
    status, body = page(f"{outcome.url}/cgi-bin/keyset")
    assert status == 200
    assert body.strip() == f"API_KEY set {hashlib.sha256(VALUE.encode()).hexdigest()}"


def test_a_reference_to_a_missing_secret_fails_the_revision_with_azures_reason(
        tmp_path: Path, environ: LocalState) -> None:
    state, app = environ, "kv-missing"
    root = _repo(tmp_path, state, app, "https://kv-batch.vault.azure.net/secrets/not-there")
    serving = get(state, app_path(app))["properties"]
    result = _release(root)
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert outcome.status == "failed"
    assert ("Unable to get value using Managed identity system for secret api-key. Error: "
            "unable to fetch secret 'api-key' using Managed identity 'system'") in \
        outcome.message
    props = get(state, app_path(app))["properties"]
    assert props["latestReadyRevisionName"] == serving["latestReadyRevisionName"]
    assert revision(state, app, serving["latestReadyRevisionName"])["trafficWeight"] == 100
    assert page(f"http://{props['configuration']['ingress']['fqdn']}")[0] == 200


def test_a_release_outlasts_a_short_lived_entra_token(tmp_path: Path,
                                                      environ: LocalState) -> None:
    """Tokens living 3 s; the release takes longer (build, ACR push, revision wait, and a
    canary holding its share for 8 s before the traffic PATCH and the old revision's
    deactivation, which need a live token): it succeeds because the session renews its
    token with fresh GitHub assertions."""
    state, app = environ, "kv-renewal"
    keyvault.set_secret(components.folder(state) / keyvault.KEY_VAULT_FILE, "kv-batch",
                        "detector-api-key", VALUE)
    root = _repo(tmp_path, state, app, URL, {"strategy": "canary", "percent": 50,
                                             "interval_seconds": 8})
    directory_file = components.folder(state) / entra.ENTRA_FILE
    kept = entra.read_directory(directory_file)
    entra.write_directory(directory_file, entra.Directory(kept.applications, 3))
    try:
        started = time.monotonic()
        result = _release(root)
        took = time.monotonic() - started
    finally:
        entra.write_directory(directory_file, kept)
    assert result.exit_code == 0, result.to_text()
    assert took > 8, f"the release took {took:.1f}s: too short to prove a renewal"
    props = get(state, app_path(app))["properties"]
    assert revision(state, app, props["latestRevisionName"])["runningState"] == "Running"
    assert props["configuration"]["ingress"]["traffic"] == [
        {"revisionName": props["latestRevisionName"], "weight": 100}]
