"""A container-app canary through `release deploy`, on the local cloud's Azure (its own
private cloud: 16405-16409).

The release switches the app to Multiple revision mode, starts the new revision with no
traffic, gives it `percent` of the ingress traffic once it runs, smoke-checks it at its
own URL (the local cloud gives each active revision its own listener in Multiple mode, as
Azure gives revision FQDNs), then moves all traffic to it and deactivates the old one; a
failed smoke check sets the traffic back on the old revision alone and fails the release
naming the gate. Revisions run as containers on the local engine.
"""

from __future__ import annotations

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
from release.local.state import LocalState
from release.summary import traffic

pytestmark = pytest.mark.e2e

CANARY = {"strategy": "canary", "percent": 20, "interval_seconds": 2,
          "smoke": {"path": "/health", "status": 200, "timeout_seconds": 5}}


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module only (16405-16409), Azure included."""
    with private_cloud(tmp_path_factory, 16405) as state:
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
    """The examples with environments/azlocal.yaml (Azure only, the app seeded, serving
    the placeholder), batch-detector released by a canary."""
    root = sandbox.make(REPO, tmp_path / "repo", aws_endpoint=state.aws_endpoint_url,
                        registry_host=state.registry_host,
                        azure=(state.azure_url, state.acr_host))
    write_environment(root, state, "azlocal", app)
    path = root / "environments" / "azlocal.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"]["batch-detector"]["azure_container_app"]["deployment"] = CANARY
    path.write_text(yaml.safe_dump(data))
    sandbox.git(root, "commit", "-qam", "a canary")
    return root


def _release(root: Path) -> deploy.Result:
    return deploy.run(deploy.Options(root, "azlocal"), deploy.Deps(
        sleep=lambda seconds: time.sleep(min(seconds, 0.5)),
        aws=lambda _env: pytest.fail("an Azure-only deploy made AWS clients"),
        environ=os.environ))


def test_a_revision_takes_full_traffic_after_its_smoke_check(
        tmp_path: Path, environ: LocalState) -> None:
    state, app = environ, "canary-pass"
    root = _repo(tmp_path, state, app)
    old = get(state, app_path(app))["properties"]["latestReadyRevisionName"]
    result = _release(root)
    assert result.exit_code == 0, result.to_text()
    [outcome] = result.outcomes
    assert outcome.traffic is not None
    assert (outcome.traffic.reached, outcome.traffic.failed) == ((20, 100), None)
    assert [g.text() for g in outcome.traffic.gates] == ["smoke passed at 20%"]
    props = get(state, app_path(app))["properties"]
    new = props["latestRevisionName"]
    assert new != old
    assert props["configuration"]["activeRevisionsMode"] == "Multiple"
    assert props["configuration"]["ingress"]["traffic"] == [{"revisionName": new, "weight": 100}]
    assert revision(state, app, new)["trafficWeight"] == 100
    assert revision(state, app, old)["active"] is False
    status, body = page(f"{outcome.url}/cgi-bin/detect")
    assert status == 200
    assert '"service":"batch-detector"' in body
    table = "\n".join(traffic(result.outcomes))
    assert "smoke passed at 20%" in table


def test_a_failed_smoke_check_puts_the_traffic_back_on_the_old_revision(
        tmp_path: Path, environ: LocalState) -> None:
    state, app = environ, "canary-fail"
    root = _repo(tmp_path, state, app)
    (root / "services" / "batch-detector" / "app" / "health").unlink()
    sandbox.git(root, "commit", "-qam", "no health page")
    old = get(state, app_path(app))["properties"]["latestReadyRevisionName"]
    result = _release(root)
    assert result.exit_code == 1
    [outcome] = result.outcomes
    assert outcome.status == "failed"
    assert "gate smoke failed at 20%: GET /health answered 404" in outcome.message
    assert outcome.rolled_back_to == f"revision {old}"
    assert outcome.traffic is not None
    assert outcome.traffic.failed is not None
    props = get(state, app_path(app))["properties"]
    assert props["configuration"]["ingress"]["traffic"] == [{"revisionName": old, "weight": 100}]
    assert revision(state, app, old)["trafficWeight"] == 100
    new = outcome.traffic.version
    assert revision(state, app, new)["active"] is False
    assert page(f"http://{props['configuration']['ingress']['fqdn']}")[0] == 200
    assert "smoke failed at 20%" in "\n".join(traffic(result.outcomes))
