"""What an image is, read from a real registry: Debian's docker-registry (the local cloud's),
started here on a free 127.0.0.1 port behind htpasswd. Images are pushed to it through the
registry API (blob uploads, then manifests and an index with their media types), as buildx
pushes them; the check before UpdateFunctionCode refuses an index and a wrong architecture.

What a real registry will not do (redirect a blob to another host as ECR does to S3, answer
too much, answer bytes of another digest) is shown against a small HTTP stub, and says so.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from release.adapters import registry
from release.adapters.registry import Login
from release.engine.context import ImageReads
from release.engine.targets.lambda_ import refuse_what_lambda_rejects
from release.errors import ReleaseError
from release.planning import lambda_image
from release.planning.lambda_image import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageManifest,
    Subject,
)

USER, PASSWORD = "AWS", "registry-test-password"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = {OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip",
         DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Login]:
    """docker-registry with htpasswd on a free port; stopped (by its PID) after the module."""
    if shutil.which("docker-registry") is None or shutil.which("htpasswd") is None:
        pytest.skip("needs docker-registry and htpasswd (the local cloud's registry)")
    from release.local import registry as registry_config

    state_dir = tmp_path_factory.mktemp("registry")
    port = _free_port()
    registry_config.write_htpasswd(state_dir, USER, PASSWORD)
    config = registry_config.write_config(state_dir, "127.0.0.1", port)
    log = state_dir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(registry_config.argv(config), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/v2/", process, log)
        yield Login(f"127.0.0.1:{port}", USER, PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # 401: it answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"docker-registry did not answer on {url}: {log.read_text()[-2000:]}")


@dataclass
class Pusher:
    """Pushes through the registry API, as buildx does: blobs, manifests, an index."""

    login: Login
    repository: str

    def _call(self, method: str, url: str, body: bytes = b"",
              content_type: str = "application/octet-stream") -> Any:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            url, data=body if method != "POST" or body else None, method=method)
        token = base64.b64encode(f"{self.login.username}:{self.login.password}".encode())
        request.add_header("Authorization", "Basic " + token.decode())
        request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return response.headers

    def blob(self, body: bytes, media_type: str) -> dict[str, Any]:
        """POST an upload, PUT the bytes with their digest; the blob's descriptor."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        base = f"http://{self.login.host}"
        started = self._call("POST", f"{base}/v2/{self.repository}/blobs/uploads/")
        location = started["Location"]
        location = location if location.startswith("http") else base + location
        separator = "&" if "?" in location else "?"
        self._call("PUT", f"{location}{separator}digest={digest}", body)
        return {"mediaType": media_type, "digest": digest, "size": len(body)}

    def manifest(self, body: dict[str, Any], media_type: str, reference: str | None = None
                 ) -> dict[str, Any]:
        """PUT a manifest (by its digest, or under ``reference``); its descriptor."""
        raw = json.dumps(body).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        headers = self._call("PUT", f"http://{self.login.host}/v2/{self.repository}/manifests/"
                                    f"{reference or digest}", raw, media_type)
        assert headers["Docker-Content-Digest"] == digest
        return {"mediaType": media_type, "digest": digest, "size": len(raw)}

    def image(self, architecture: str, media_type: str = OCI_MANIFEST,
              os: str = "linux") -> dict[str, Any]:
        """A one-layer image of ``os/architecture``; its manifest's descriptor."""
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as tar:
            data = f"built for {architecture}\n".encode()
            info = tarfile.TarInfo("app/platform.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        layer_blob = gzip.compress(layer.getvalue())
        diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
        config = json.dumps({"architecture": architecture, "os": os, "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
        config_type = OCI_CONFIG if media_type == OCI_MANIFEST else DOCKER_CONFIG
        return self.manifest({
            "schemaVersion": 2, "mediaType": media_type,
            "config": self.blob(config, config_type),
            "layers": [self.blob(layer_blob, LAYER[media_type])]}, media_type)

    def attestation(self, of: dict[str, Any]) -> dict[str, Any]:
        """What buildx adds for provenance: an unknown/unknown manifest of in-toto layers."""
        statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                "predicateType": "https://slsa.dev/provenance/v0.2"}).encode()
        config = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        found = self.manifest({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": self.blob(config, OCI_CONFIG),
            "layers": [self.blob(statement, "application/vnd.in-toto+json")]}, OCI_MANIFEST)
        return {**found, "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": of["digest"]}}

    def index(self, entries: list[dict[str, Any]], media_type: str = OCI_INDEX,
              reference: str | None = None) -> dict[str, Any]:
        """An index (or Docker manifest list) of ``entries``, pushed after them."""
        return self.manifest({"schemaVersion": 2, "mediaType": media_type,
                              "manifests": entries}, media_type, reference)


def _on(descriptor: dict[str, Any], architecture: str) -> dict[str, Any]:
    return {**descriptor, "platform": {"architecture": architecture, "os": "linux"}}


@pytest.fixture
def pusher(login: Login, request: pytest.FixtureRequest) -> Pusher:
    return Pusher(login, f"lambda/{request.node.name.replace('_', '-')[:60]}")


def _subject(pusher: Pusher, digest: str, *architectures: str) -> Subject:
    return Subject(service="worker", function="local-worker", architectures=architectures,
                   image=f"{pusher.login.host}/{pusher.repository}@{digest}")


def test_an_index_with_an_attestation_is_read_as_an_index_and_refused(pusher: Pusher) -> None:
    amd64 = pusher.image("amd64")
    index = pusher.index([_on(amd64, "amd64"), pusher.attestation(amd64)], reference="v1")
    found = registry.image_manifest(pusher.login, pusher.repository, index["digest"])
    assert found == ImageManifest(media_type=OCI_INDEX, platforms=(
        "linux/amd64", "unknown/unknown (attestation)"))
    refusal = lambda_image.check(_subject(pusher, index["digest"], "x86_64"), found)
    assert refusal is not None
    assert "is an image index (application/vnd.oci.image.index.v1+json; linux/amd64, " \
        "unknown/unknown (attestation)): Lambda accepts only a single-platform image " \
        "manifest" in refusal.message
    assert "--provenance=false --sbom=false" in refusal.hint
    # the tag names the same index: a lookup by tag reads it too
    assert registry.image_manifest(pusher.login, pusher.repository, "v1") == found


def test_a_docker_manifest_list_of_two_platforms_is_refused(pusher: Pusher) -> None:
    amd64 = pusher.image("amd64", DOCKER_MANIFEST)
    arm64 = pusher.image("arm64", DOCKER_MANIFEST)
    listed = pusher.index([_on(amd64, "amd64"), _on(arm64, "arm64")], DOCKER_LIST)
    found = registry.image_manifest(pusher.login, pusher.repository, listed["digest"])
    assert found == ImageManifest(media_type=DOCKER_LIST,
                                  platforms=("linux/amd64", "linux/arm64"))
    refusal = lambda_image.check(_subject(pusher, listed["digest"], "arm64"), found)
    assert refusal is not None
    assert "is an image index (application/vnd.docker.distribution.manifest.list.v2+json" in \
        refusal.message


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_a_single_manifest_of_the_functions_architecture_is_accepted(
        pusher: Pusher, media_type: str) -> None:
    amd64 = pusher.image("amd64", media_type)
    found = registry.image_manifest(pusher.login, pusher.repository, amd64["digest"])
    assert found == ImageManifest(media_type=media_type, architecture="amd64", os="linux")
    assert lambda_image.check(_subject(pusher, amd64["digest"], "x86_64"), found) is None
    assert lambda_image.check(_subject(pusher, amd64["digest"]), found) is None  # default


def test_an_arm64_image_is_refused_for_an_x86_64_function(pusher: Pusher) -> None:
    arm64 = pusher.image("arm64")
    found = registry.image_manifest(pusher.login, pusher.repository, arm64["digest"])
    assert found == ImageManifest(media_type=OCI_MANIFEST, architecture="arm64", os="linux")
    refusal = lambda_image.check(_subject(pusher, arm64["digest"], "x86_64"), found)
    assert refusal is not None
    assert "is built for linux/arm64" in refusal.message
    assert "the function runs x86_64 (linux/amd64)" in refusal.message
    assert lambda_image.check(_subject(pusher, arm64["digest"], "arm64"), found) is None


def test_a_wrong_password_and_a_missing_image_are_named(pusher: Pusher) -> None:
    amd64 = pusher.image("amd64")
    wrong = Login(pusher.login.host, USER, "not-the-password")
    with pytest.raises(ReleaseError) as refused:
        registry.image_manifest(wrong, pusher.repository, amd64["digest"])
    assert refused.value.message == (
        f"registry {wrong.host} refused the login (401) reading "
        f"{pusher.repository}@{amd64['digest']}")
    missing = "sha256:" + "0" * 64
    with pytest.raises(ReleaseError) as absent:
        registry.image_manifest(pusher.login, pusher.repository, missing)
    assert absent.value.message == (
        f"registry {wrong.host} answered 404 for {pusher.repository}@{missing}")


def test_the_same_image_is_read_once_for_every_function_that_gets_it(pusher: Pusher) -> None:
    amd64 = pusher.image("amd64")
    image = f"{pusher.login.host}/{pusher.repository}@{amd64['digest']}"
    reads: list[str] = []

    def read(login: Login, repository: str, reference: str,
             endpoint: registry.Endpoint | None) -> ImageManifest:
        reads.append(reference)
        return registry.image_manifest(login, repository, reference, endpoint)

    logins: list[str] = []

    def log_in(reg: Any) -> Login:
        logins.append(reg.host)
        return pusher.login

    from release.config.model import Registry

    reads_of = ImageReads(log_in, None, read)
    reg = Registry("oci", pusher.login.host)
    threads = [threading.Thread(target=reads_of.manifest, args=(reg, image))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert reads_of.manifest(reg, image).architecture == "amd64"
    assert reads == [amd64["digest"]]
    assert logins == [pusher.login.host]


class _Stub(BaseHTTPRequestHandler):
    """What docker-registry never does: answers scripted per path; records Authorization."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}  # noqa: RUF012 - per test
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.answers.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    _Stub.answers, _Stub.seen = {}, []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Stub) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield ",".join(f"127.0.0.1:{s.server_address[1]}" for s in servers), _Stub
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(5)


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_a_blob_redirected_elsewhere_is_fetched_without_the_login(
        stub: tuple[str, type[_Stub]]) -> None:
    """Stub: ECR answers a blob GET with a pre-signed S3 URL, which refuses a second
    credential; the login must not follow the redirect."""
    hosts, handler = stub
    registry_host, storage_host = hosts.split(",")
    config = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {
        "mediaType": DOCKER_CONFIG, "digest": _digest(config), "size": len(config)}}).encode()
    handler.answers = {
        f"/v2/fn/manifests/{_digest(manifest)}": (200, {"Content-Type": DOCKER_MANIFEST},
                                                  manifest),
        f"/v2/fn/blobs/{_digest(config)}": (307, {
            "Location": f"http://{storage_host}/layer?X-Amz-Signature=abc"}, b""),
        "/layer?X-Amz-Signature=abc": (200, {}, config),
    }
    found = registry.image_manifest(Login(registry_host, USER, PASSWORD), "fn",
                                    _digest(manifest))
    assert found == ImageManifest(media_type=DOCKER_MANIFEST, architecture="arm64", os="linux")
    assert [auth is not None for _, auth in handler.seen] == [True, True, False]


def test_too_much_or_the_wrong_bytes_are_refused(stub: tuple[str, type[_Stub]]) -> None:
    """Stub: a manifest over 4 MiB, and a body that is not what its digest names."""
    hosts, handler = stub
    host = hosts.split(",")[0]
    big = b"{" + b" " * registry.MANIFEST_MAX + b"}"
    other = json.dumps({"mediaType": OCI_MANIFEST}).encode()
    named = "sha256:" + "1" * 64
    handler.answers = {f"/v2/fn/manifests/{_digest(big)}": (200, {}, big),
                       f"/v2/fn/manifests/{named}": (200, {}, other)}
    login = Login(host, "", "")
    with pytest.raises(ReleaseError) as large:
        registry.image_manifest(login, "fn", _digest(big))
    assert "with more than 4 MiB: not a manifest or an image config" in large.value.message
    with pytest.raises(ReleaseError) as wrong:
        registry.image_manifest(login, "fn", named)
    assert wrong.value.message == (f"registry {host} answered fn@{named} with content of "
                                   "another digest")


def test_the_check_before_update_function_code_uses_the_functions_architectures(
        pusher: Pusher) -> None:
    """The apply path's check: the function's Architectures (from GetFunction) against the
    image in the registry; a registry error is named with the service and function."""
    from types import SimpleNamespace

    from release.adapters.aws.lambda_ import FunctionState
    from release.config.model import Registry

    arm64 = pusher.image("arm64")
    reg = Registry("oci", pusher.login.host)
    ctx = SimpleNamespace(images=ImageReads(lambda _r: pusher.login, None),
                          env=SimpleNamespace(registry_of=lambda _d: reg))
    dep = SimpleNamespace(name="worker", lambda_=SimpleNamespace(function="local-worker"))

    def seen(*architectures: str) -> FunctionState:
        return FunctionState(
            "arn:aws:lambda:eu-west-1:123456789012:function:local-worker", None, None, None,
            {}, {}, architectures=architectures)

    image = f"{pusher.login.host}/{pusher.repository}@{arm64['digest']}"
    refuse_what_lambda_rejects(ctx, dep, seen("arm64"), image)
    with pytest.raises(ReleaseError) as refused:
        refuse_what_lambda_rejects(ctx, dep, seen("x86_64"), image)
    assert refused.value.message.startswith(f"worker: image {image} for Lambda function "
                                            "local-worker is built for linux/arm64")
    missing = f"{pusher.login.host}/{pusher.repository}@sha256:{'0' * 64}"
    with pytest.raises(ReleaseError) as unread:
        refuse_what_lambda_rejects(ctx, dep, seen("arm64"), missing)
    assert unread.value.message == (
        "worker: cannot check the image for Lambda function local-worker (nothing was "
        f"updated): registry {pusher.login.host} answered 404 for "
        f"{pusher.repository}@sha256:{'0' * 64}")
