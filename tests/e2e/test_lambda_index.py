"""`release deploy` of a Lambda service whose image in the registry is an image index (what
buildx pushes with attestations): refused before any update, the function left as it was.

The index is pushed through the registry API under the service's build key, so the deploy
finds the image already built and goes straight to the function (no Docker build): moto in
server mode and the local cloud's real registry, on ports of this module's own.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

SERVICE, REPOSITORY, FUNCTION = "coral-restoration", "coral/restoration", "local-coral-restoration"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for these tests only (19600-19602); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 19600) as state:
        yield state


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    return examples_repo(tmp_path, cloud_state)


def _aws(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


@dataclass
class Registry:
    """Pushes through the registry API with the ECR login (moto's token), as buildx does."""

    host: str
    authorization: str

    @classmethod
    def of(cls, state: LocalState) -> Registry:
        ecr = _aws(state, "ecr")
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        ecr.close()
        return cls(state.registry_host, "Basic " + token)

    def _call(self, method: str, url: str, body: bytes | None, content_type: str) -> Any:
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310
        request.add_header("Authorization", self.authorization)
        request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return response.headers

    def blob(self, body: bytes, media_type: str) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        base = f"http://{self.host}"
        location = self._call("POST", f"{base}/v2/{REPOSITORY}/blobs/uploads/", None,
                              "application/octet-stream")["Location"]
        location = location if location.startswith("http") else base + location
        self._call("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}", body,
                   "application/octet-stream")
        return {"mediaType": media_type, "digest": digest, "size": len(body)}

    def manifest(self, body: dict[str, Any], reference: str | None = None) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        self._call("PUT", f"http://{self.host}/v2/{REPOSITORY}/manifests/{reference or digest}",
                   raw, body["mediaType"])
        return {"mediaType": body["mediaType"], "digest": digest, "size": len(raw)}

    def image(self, architecture: str, os: str = "linux", tag: str | None = None
              ) -> dict[str, Any]:
        config = json.dumps({"architecture": architecture, "os": os, "config": {},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = self.blob(f"layer for {os}/{architecture}".encode(),
                          "application/vnd.oci.image.layer.v1.tar+gzip")
        return self.manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": self.blob(config, OCI_CONFIG), "layers": [layer]}, tag)


def _deploy(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json", *args,
                 SERVICE], environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"]


def _function(state: LocalState) -> tuple[str, list[str], str | None]:
    """The function's image, its published versions, the version its alias points at."""
    lam = _aws(state, "lambda")
    image = lam.get_function(FunctionName=FUNCTION)["Code"]["ImageUri"]
    versions = [v["Version"] for v in lam.list_versions_by_function(
        FunctionName=FUNCTION)["Versions"]]
    try:
        alias: str | None = lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
    except lam.exceptions.ResourceNotFoundException:
        alias = None
    return image, versions, alias


def _build_key(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, data = _deploy(root, capsys, "--dry-run")
    assert code == 0
    [result] = data["results"]
    assert result["digest"] is None  # not built yet
    return str(result["build_key"])


def test_an_image_index_is_refused_before_any_update_and_a_single_manifest_deploys(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry.of(cloud_state)
    key = _build_key(repo, capsys)
    amd64 = registry.image("amd64")
    attestation = registry.image("unknown", "unknown")
    index = registry.manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**amd64, "platform": {"architecture": "amd64", "os": "linux"}},
        {**attestation, "platform": {"architecture": "unknown", "os": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                         "vnd.docker.reference.digest": amd64["digest"]}}]}, key)
    before = _function(cloud_state)

    code, data = _deploy(repo, capsys)

    assert code == 1
    [result] = data["results"]
    assert (result["target"], result["status"], result["digest"]) == (
        "lambda", "failed", index["digest"])
    image = f"{cloud_state.registry_host}/{REPOSITORY}@{index['digest']}"
    assert result["message"] == (
        f"{SERVICE}: image {image} for Lambda function {FUNCTION} is an image index "
        f"({OCI_INDEX}; linux/amd64, unknown/unknown (attestation)): Lambda accepts only a "
        "single-platform image manifest")
    assert "`--platform linux/amd64 --provenance=false --sbom=false`" in result["hint"]
    assert _function(cloud_state) == before  # no code, no version, no alias moved

    # The fix: the same build key now names one linux/amd64 manifest; the release goes on.
    assert registry.image("amd64", tag=key) == amd64  # the same bytes: the same digest
    code, data = _deploy(repo, capsys)
    assert code == 0, data
    [result] = data["results"]
    assert (result["status"], result["digest"]) == ("deployed", amd64["digest"])
    image_uri, versions, alias = _function(cloud_state)
    assert image_uri == f"{cloud_state.registry_host}/{REPOSITORY}@{amd64['digest']}"
    assert alias == versions[-1]
    assert len(versions) == len(before[1]) + 1


def test_an_arm64_image_is_refused_for_the_x86_64_function(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry.of(cloud_state)
    key = _build_key(repo, capsys)
    assert _aws(cloud_state, "lambda").get_function_configuration(
        FunctionName=FUNCTION).get("Architectures", ["x86_64"]) == ["x86_64"]
    arm64 = registry.image("arm64", tag=key)
    before = _function(cloud_state)

    code, data = _deploy(repo, capsys)

    assert code == 1
    [result] = data["results"]
    assert result["status"] == "failed"
    assert result["message"].endswith(
        f"@{arm64['digest']} for Lambda function {FUNCTION} is built for linux/arm64 "
        f"({OCI_MANIFEST}), the function runs x86_64 (linux/amd64)")
    assert "or set the function's Architectures to [arm64]" in result["hint"]
    assert _function(cloud_state) == before

