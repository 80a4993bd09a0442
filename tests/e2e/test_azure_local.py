"""The detector service released to the local cloud's Azure, as `scripts/demo.sh` does.

Its own private cloud (15900-15904: ECS/AWS, registry, OIDC issuer, Azure, ACR). The
examples' environments/local.yaml, pointed at it, holds batch-detector's azure block and ACR
registry; `release local seed` (the same code) made its resource group and container app.
Everything here is real: Entra ID checks the OIDC token's signature, issuer, subject and
audience; revisions run as containers on the local engine and are probed over HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_azure import app_path, get, management, page, revision
from private_cloud import REPO, local_environ, private_cloud

from release.cli import main
from release.local import placeholder, sandbox
from release.local.azure import components
from release.local.azure.seed import API_VERSION
from release.local.oidc_issuer import CLAIMS_FILE
from release.local.seed import Trust
from release.local.seeding import seed_repository
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

APP = "batch-detector"
GROUP = "rg-batch-detector-local"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module only (15900-15904)."""
    with private_cloud(tmp_path_factory, 15900) as state:
        yield state


@pytest.fixture(scope="module")
def repo(cloud: LocalState, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples pointed at the cloud (Azure included), seeded as `release local up` does."""
    root = sandbox.make(REPO, tmp_path_factory.mktemp("azure-local") / "repo",
                        aws_endpoint=cloud.aws_endpoint_url, registry_host=cloud.registry_host,
                        azure=(cloud.azure_url, cloud.acr_host))
    sandbox.reset_and_seed(root, cloud.aws_endpoint_url, Trust.of(cloud),
                           placeholder.maker(cloud))
    seeded = seed_repository(root, cloud, lambda _line: None)
    assert any(line.startswith(f"container app {GROUP}/{APP}") for line in seeded.lines)
    return root


@pytest.fixture
def environ(cloud: LocalState, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `release local status` exports (the OIDC request URL, the certificate)."""
    for key, value in cloud.environment().items():
        monkeypatch.setenv(key, value)
    return local_environ()


def _deploy(root: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, dict[str, Any], str]:
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json",
                 "batch-detector"], environ=environ)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert out.strip(), err
    [result] = json.loads(out)["data"]["results"]
    return code, result, err


def test_the_detector_is_released_to_a_container_app_that_answers(
        repo: Path, cloud: LocalState, environ: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = _deploy(repo, environ, capsys)
    assert code == 0, err
    assert (result["target"], result["status"]) == ("azure_container_app", "deployed")
    props = get(cloud, app_path(APP))["properties"]
    latest = props["latestRevisionName"]
    assert result["detail"] == f"revision {latest}"
    assert props["latestReadyRevisionName"] == latest
    running = revision(cloud, APP, latest)
    assert running["template"]["containers"][0]["image"] == \
        f"{cloud.acr_host}/batch-detector@{result['digest']}"
    assert (running["runningState"], running["healthState"]) == ("Running", "Healthy")
    assert running["replicas"] == 1
    status, body = page(result["url"])
    assert status == 200
    assert "<h1>batch-detector</h1>" in body


def test_a_revision_failing_its_probe_fails_the_release_and_keeps_the_traffic(
        repo: Path, cloud: LocalState, environ: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = _deploy(repo, environ, capsys)  # released (or already)
    assert code == 0, err
    # The team's probe, set on the app as Bicep would: a revision of the released image.
    api, path = management(cloud), app_path(APP)
    template = get(cloud, path)["properties"]["template"]
    template["containers"][0]["probes"] = [
        {"type": "Readiness", "httpGet": {"path": "/health", "port": 80},
         "periodSeconds": 5, "failureThreshold": 3},
        {"type": "Liveness", "httpGet": {"path": "/health", "port": 80}}]
    api.call("PATCH", path, API_VERSION, {"properties": {"template": template}})
    _until_settled(cloud)
    good = get(cloud, path)["properties"]
    assert revision(cloud, APP, good["latestRevisionName"])["runningState"] == "Running"

    # A build without /health: its revision never gets ready.
    (repo / "services" / "batch-detector" / "app" / "health").unlink()
    sandbox.git(repo, "commit", "-qam", "no health page")
    code, result, _ = _deploy(repo, environ, capsys)
    assert code == 1
    assert result["status"] == "failed"
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in result["message"]
    assert "Deployment Progress Deadline Exceeded. 0/1 replicas ready" in result["message"]
    props = get(cloud, path)["properties"]
    failed = revision(cloud, APP, props["latestRevisionName"])
    assert (failed["runningState"], failed["healthState"]) == ("Failed", "Unhealthy")
    assert props["latestReadyRevisionName"] == good["latestRevisionName"]
    assert revision(cloud, APP, good["latestRevisionName"])["trafficWeight"] == 100
    assert failed["trafficWeight"] == 0
    assert page(f"http://{props['configuration']['ingress']['fqdn']}/health")[0] == 200


def _until_settled(cloud: LocalState) -> None:
    from release.local.azure.seed import _settled

    assert _settled(management(cloud), app_path(APP)) == "Succeeded"


def _token_request(cloud: LocalState, assertion: str) -> tuple[int, dict[str, Any]]:
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": components.LOCAL_CLIENT,
        "scope": f"{cloud.azure_url}/.default", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{cloud.azure_url}/{components.LOCAL_TENANT}/oauth2/v2.0/token", data=form)
    import ssl

    context = ssl.create_default_context(cafile=cloud.azure_ca_file)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
        exc.close()
        return int(exc.code), body


def _github_token(cloud: LocalState, audience: str) -> str:
    request = urllib.request.Request(  # noqa: S310
        f"{cloud.oidc_request_url}&audience={urllib.parse.quote(audience)}")
    request.add_header("Authorization", f"Bearer {cloud.oidc_request_token}")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return str(json.loads(answer.read())["value"])


def test_the_token_endpoint_refuses_a_wrong_audience_subject_or_signature(
        cloud: LocalState) -> None:
    status, body = _token_request(cloud, _github_token(cloud, "api://AzureADTokenExchange"))
    assert status == 200
    assert body["token_type"] == "Bearer"

    status, body = _token_request(cloud, _github_token(cloud, "sts.amazonaws.com"))
    assert (status, body["error"], body["error_codes"]) == (401, "invalid_client", [700212])
    assert "presented assertion audience 'sts.amazonaws.com'" in body["error_description"]

    claims = Path(cloud.state_dir) / CLAIMS_FILE
    kept = claims.read_text()
    try:
        claims.write_text(json.dumps({**json.loads(kept), "repository": "someone/else"}))
        status, body = _token_request(cloud, _github_token(cloud, "api://AzureADTokenExchange"))
    finally:
        claims.write_text(kept)
    assert (status, body["error_codes"]) == (401, [700213])
    assert "presented assertion subject 'repo:someone/else:environment:local'" in \
        body["error_description"]

    header, payload, signature = _github_token(cloud, "api://AzureADTokenExchange").split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    status, body = _token_request(cloud, forged)
    assert (status, body["error_codes"]) == (401, [700027])


def _page_app(state: LocalState, name: str, text: str) -> dict[str, Any]:
    """A container app template: busybox httpd serving ``text`` on port 80."""
    return {"containers": [{"name": "web", "image": "release-base/busybox:1", "command": [
        "sh", "-c", f"mkdir -p /w && echo {text} > /w/index.html && httpd -f -p 80 -h /w"]}],
        "scale": {"minReplicas": 1, "maxReplicas": 1}}


def test_multiple_revisions_share_the_traffic_by_weight(cloud: LocalState) -> None:
    api, path = management(cloud), app_path("split")
    api.call("PUT", f"/subscriptions/{components.LOCAL_SUBSCRIPTION}/resourcegroups/{GROUP}",
             "2021-04-01", {"location": "local"})
    api.call("PUT", path, API_VERSION, {"location": "local", "properties": {
        "configuration": {"activeRevisionsMode": "Multiple", "ingress": {"targetPort": 80}},
        "template": _page_app(cloud, "split", "blue")}})
    assert _settled_app(cloud, path) == "Succeeded"
    blue = get(cloud, path)["properties"]["latestRevisionName"]
    api.call("PATCH", path, API_VERSION, {"properties": {
        "template": _page_app(cloud, "split", "green")}})
    assert _settled_app(cloud, path) == "Succeeded"
    props = get(cloud, path)["properties"]
    green = props["latestRevisionName"]
    url = f"http://{props['configuration']['ingress']['fqdn']}"
    assert revision(cloud, "split", blue)["active"] is True  # Multiple: both stay active

    api.call("PATCH", path, API_VERSION, {"properties": {"configuration": {"ingress": {
        "traffic": [{"revisionName": blue, "weight": 50},
                    {"revisionName": green, "weight": 50}]}}}})
    assert get(cloud, path)["properties"]["latestRevisionName"] == green  # no new revision
    _until(url, "blue")
    seen = [page(url)[1].strip() for _ in range(20)]
    assert (seen.count("blue"), seen.count("green")) == (10, 10)

    api.call("PATCH", path, API_VERSION, {"properties": {"configuration": {"ingress": {
        "traffic": [{"revisionName": blue, "weight": 0},
                    {"latestRevision": True, "weight": 100}]}}}})
    _until(url, "green", alone=True)
    assert {page(url)[1].strip() for _ in range(6)} == {"green"}
    assert revision(cloud, "split", blue)["trafficWeight"] == 0


def _settled_app(cloud: LocalState, path: str) -> str:
    from release.local.azure.seed import _settled

    return _settled(management(cloud), path)


def _until(url: str, body: str, *, alone: bool = False) -> None:
    """Wait (10 s at most) until the listener took the new weights at the control plane's
    next pass: ``body`` answers (``alone``: two answers in a row are ``body``)."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = {page(url)[1].strip() for _ in range(2)}
        if (answers == {body}) if alone else (body in answers):
            return
        time.sleep(0.1)
    pytest.fail(f"{url} never answered {body}")
