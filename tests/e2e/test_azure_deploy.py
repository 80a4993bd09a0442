"""`release deploy` of an Azure container app, against the local cloud's Azure.

What `release local up` serves (no fakes): Entra ID's token endpoint, which accepts the
private cloud's OIDC token as a federated assertion; ACR's /oauth2/exchange, whose refresh
token logs docker in to the TLS registry (Debian's docker-registry, its certificate made at
`up` and trusted by dockerd through /etc/docker/certs.d); and the Container Apps management
API, whose revisions run as containers on the local engine. REQUESTS_CA_BUNDLE names the
certificate for release. ACR's exchange cannot live on the registry's own host:port, so the
environment's azure.acr_exchange_url points at the Azure endpoint.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_azure import app_path, get, manifest_status, page, revision, write_environment
from private_cloud import REPO, local_environ, private_cloud

from release.cli import main
from release.commands import deploy
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module only (19500-19504), Azure included."""
    with private_cloud(tmp_path_factory, 19500) as state:
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


def _repo(tmp_path: Path, state: LocalState, app: str) -> Path:
    """The examples, plus environments/azlocal.yaml (Azure only), the app seeded."""
    root = sandbox.make(REPO, tmp_path / "repo", aws_endpoint=state.aws_endpoint_url,
                        registry_host=state.registry_host,
                        azure=(state.azure_url, state.acr_host))
    write_environment(root, state, "azlocal", app)
    return root


def _release(root: Path) -> tuple[deploy.Result, list[float]]:
    """`release deploy --env azlocal`, in-process; waits are shortened (recorded)."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.5))

    result = deploy.run(deploy.Options(root, "azlocal"), deploy.Deps(
        sleep=sleep, aws=lambda _env: pytest.fail("an Azure-only deploy made AWS clients"),
        environ=os.environ))
    return result, sleeps


def test_deploy_pushes_to_the_tls_registry_and_runs_the_revision(
        tmp_path: Path, environ: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    state, app = environ, "azl-detector"
    root = _repo(tmp_path, state, app)
    seeded = get(state, app_path(app))["properties"]["latestRevisionName"]
    result, sleeps = _release(root)
    assert result.exit_code == 0, result.to_text()
    [outcome] = result.outcomes
    assert (outcome.service, outcome.target, outcome.status) == (
        "batch-detector", "azure_container_app", "deployed")
    assert outcome.digest is not None
    assert manifest_status(state, "batch-detector", outcome.digest) == 200  # pushed over TLS

    props = get(state, app_path(app))["properties"]
    new = props["latestRevisionName"]
    assert new != seeded
    assert new.startswith(f"{app}--")
    assert outcome.detail == f"revision {new}"
    assert props["latestReadyRevisionName"] == new
    running = revision(state, app, new)
    assert (running["provisioningState"], running["runningState"]) == ("Provisioned", "Running")
    assert running["template"]["containers"][0]["image"] == \
        f"{state.acr_host}/batch-detector@{outcome.digest}"
    assert running["trafficWeight"] == 100
    assert revision(state, app, seeded)["active"] is False  # Single mode: replaced
    assert sleeps  # it waited for the revision, not only for the PATCH
    assert outcome.url == f"http://{props['configuration']['ingress']['fqdn']}"
    status, body = page(outcome.url)
    assert status == 200
    assert "batch" in body.lower()  # the detector's page, not the placeholder's

    # Second release, through the command line: nothing built, no new revision.
    code = main(["deploy", "--env", "azlocal", "--root", str(root), "--output", "json"],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert code == 0, err
    [again] = json.loads(out)["data"]["results"]
    assert (again["built"], again["updated"], again["status"]) == (False, False, "unchanged")
    assert again["digest"] == outcome.digest
    assert again["detail"] == f"revision {new}"
    assert again["url"] == outcome.url
    assert get(state, app_path(app))["properties"]["latestRevisionName"] == new
    assert "Traceback" not in err


def test_a_container_that_exits_fails_the_deploy_with_its_reason(
        tmp_path: Path, environ: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    state, app = environ, "azl-exits"
    root = _repo(tmp_path, state, app)
    serving = get(state, app_path(app))["properties"]
    dockerfile = root / "services" / "batch-detector" / "Dockerfile"
    good = dockerfile.read_text()
    dockerfile.write_text(good.replace('CMD ["httpd"', 'CMD ["sh", "-c", "exit 127", "httpd"'))
    sandbox.git(root, "commit", "-qam", "a command that exits")
    result, _ = _release(root)
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert outcome.status == "failed"
    assert "terminated with exit code '127'" in outcome.message
    assert "is Provisioned/Failed" in outcome.message
    assert "previous revision keeps serving" in (outcome.hint or "")
    props = get(state, app_path(app))["properties"]
    assert props["latestReadyRevisionName"] == serving["latestReadyRevisionName"]
    assert page(f"http://{props['configuration']['ingress']['fqdn']}")[0] == 200

    # Through the command line, another broken build: exit 1, the reason, no traceback.
    dockerfile.write_text(good.replace('CMD ["httpd"', 'CMD ["sh", "-c", "exit 3", "httpd"'))
    sandbox.git(root, "commit", "-qam", "another command that exits")
    code = main(["deploy", "--env", "azlocal", "--root", str(root)], environ=local_environ())
    out, err = capsys.readouterr()
    assert code == 1
    assert "terminated with exit code '3'" in out + err
    assert "Traceback" not in out + err
