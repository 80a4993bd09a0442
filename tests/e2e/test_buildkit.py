"""BuildKit end to end on the local cloud: modern Dockerfiles, build secrets, the registry cache.

A service whose Dockerfile uses ``COPY --chmod``, ``RUN --mount=type=cache`` and
``RUN --mount=type=secret`` builds with the engine's embedded BuildKit (``/usr/bin/docker``,
Debian's 20.10 client) and deploys; the secret's value is in no layer of the exported image,
not in its history and not in the logs. A rebuild after a one-line application change on a
fresh engine (a dockerd of its own, new data root: what a new runner has) reads the
registry cache the first build wrote and reports its steps as cached. The module runs a
local cloud of its own (20600-20602) and a second dockerd, both stopped by PID.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from private_cloud import examples_repo, local_environ, private_cloud

from release.adapters import build_output, buildkit
from release.adapters.registry import Login
from release.cli import main
from release.local import docker_engine, sandbox
from release.local.state import LocalState
from release.planning.build_command import BuildSpec

pytestmark = pytest.mark.e2e

SECRET = "s3cret-build-token-7d1f"  # the value the tests look for everywhere
DOCKER = "/usr/bin/docker"
DOCKERFILE = """\
ARG BASE_IMAGE=release-base/busybox:1
FROM ${BASE_IMAGE}
# The dependency layer: slow, and the same from one commit to the next.
RUN --mount=type=cache,target=/var/cache/deps \\
    sleep 4 && echo run >> /var/cache/deps/runs && mkdir -p /opt/deps && \\
    dd if=/dev/zero of=/opt/deps/blob bs=1024 count=2048 2>/dev/null
RUN --mount=type=secret,id=build_token \\
    test -s /run/secrets/build_token && mkdir -p /srv && \\
    wc -c < /run/secrets/build_token | tr -d ' ' > /srv/token-length
COPY --chmod=0755 app/ /srv/www/
RUN cp /srv/token-length /srv/www/token-length.txt
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/srv/www"]
"""


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    with private_cloud(tmp_path_factory, 20600) as state:
        yield state


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, cloud_state: LocalState) -> Path:
    """The examples, autovision's Dockerfile using BuildKit syntax and a build secret."""
    root = examples_repo(tmp_path_factory.mktemp("buildkit"), cloud_state)
    (root / "services/autovision/Dockerfile").write_text(DOCKERFILE)
    config = yaml.safe_load((root / "release.yaml").read_text())
    config["services"]["autovision"]["build_secrets"] = {"build_token": {"env": "BUILD_TOKEN"}}
    (root / "release.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sandbox.git(root, "commit", "-qam", "autovision: BuildKit Dockerfile, a build secret")
    return root


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any, str]:
    code = main([*argv, "--output", "json"], environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"], out + err


def _docker(host: str, *args: str) -> bytes:
    return subprocess.run([DOCKER, "-H", host, *args], check=True, capture_output=True,
                          timeout=300).stdout


def test_a_modern_dockerfile_with_a_build_secret_builds_and_deploys(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_TOKEN", SECRET)
    monkeypatch.setenv("DOCKER_HOST", cloud_state.docker_host)
    code, data, logs = _run(capsys, ["deploy", "--env", "local", "--root", str(repo),
                                     "autovision"])
    assert code == 0, logs
    [result] = data["results"]
    assert (result["status"], result["built"]) == ("deployed", True)
    build = result["build"]
    assert build["builder"] == "embedded"
    assert build["platforms"] == ["linux/amd64"]
    assert build["digest"] == result["digest"]
    assert build["steps"] == 4
    assert "builder: embedded BuildKit of the engine through /usr/bin/docker" in logs
    assert "autovision | #" in logs  # BuildKit's plain progress, prefixed by the service
    assert SECRET not in logs

    # The service runs the image; the secret was mounted (its length reached the image).
    ecs = boto3.client("ecs", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    running = ecs.describe_services(cluster="local", services=["autovision"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=running["taskDefinition"])
    image = definition["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image == f"{cloud_state.registry_host}/autovision@{result['digest']}"
    host = cloud_state.docker_host
    length = _docker(host, "run", "--rm", "--network", "none", image, "cat",
                     "/srv/www/token-length.txt")
    assert length.decode().strip() == str(len(SECRET))
    mode = _docker(host, "run", "--rm", "--network", "none", image, "stat", "-c", "%a",
                   "/srv/www/index.html")
    assert mode.decode().strip() == "755"  # COPY --chmod

    # The secret is nowhere in the image: every layer, the config, the history.
    saved = _docker(host, "save", image)
    assert SECRET.encode() not in saved
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        layers = [m for m in archive.getmembers() if m.name.endswith("layer.tar")]
        assert len(layers) >= 4
        for member in layers:
            handle = archive.extractfile(member)
            assert handle is not None
            with tarfile.open(fileobj=io.BytesIO(handle.read())) as layer:
                for entry in layer.getmembers():
                    if entry.isfile():
                        content = layer.extractfile(entry)
                        assert content is not None
                        assert SECRET.encode() not in content.read(), entry.name
                        assert not entry.name.startswith("run/secrets/build_token")
    history = _docker(host, "history", "--no-trunc", image).decode()
    assert "test -s /run/secrets/build_token" in history  # the step, not its value
    assert SECRET not in history
    assert "BUILD_TOKEN" not in history


@pytest.fixture
def fresh_engine(tmp_path: Path, cloud_state: LocalState) -> Iterator[str]:
    """A dockerd of its own (new data root, its own socket), holding only the base image."""
    where = Path(f"/tmp/release-fresh-{tmp_path.name[-12:]}")  # short: a socket path limit
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    host = f"unix://{where}/d.sock"
    with (where / "dockerd.log").open("w") as log:
        proc = subprocess.Popen(["dockerd", "--iptables=false", "--ip6tables=false",
                                 "--bridge=none", f"--host={host}",
                                 f"--pidfile={where}/d.pid", f"--data-root={where}/data",
                                 f"--exec-root={where}/x"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not docker_engine.answers(host):
            assert proc.poll() is None, (where / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "dockerd did not start"
            time.sleep(0.3)
        base = _docker(cloud_state.docker_host, "save", "release-base/busybox:1")
        subprocess.run([DOCKER, "-H", host, "load"], input=base, check=True,
                       capture_output=True, timeout=120)
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(where, ignore_errors=True)


def test_a_rebuild_on_a_fresh_engine_reads_the_registry_cache(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, fresh_engine: str) -> None:
    monkeypatch.setenv("BUILD_TOKEN", SECRET)
    monkeypatch.setenv("DOCKER_HOST", cloud_state.docker_host)
    code, cold, logs = _run(capsys, ["build", "--env", "local", "--root", str(repo),
                                     "autovision"])
    assert code == 0, logs
    first = cold["images"][0]
    assert first["status"] in {"built", "reused"}  # built by the test before, or now

    page = repo / "services/autovision/app/index.html"
    page.write_text(page.read_text() + "\n<!-- one line changed -->\n")
    sandbox.git(repo, "commit", "-qam", "autovision: a one-line change")
    monkeypatch.setenv("DOCKER_HOST", fresh_engine)
    code, warm, logs = _run(capsys, ["build", "--env", "local", "--root", str(repo),
                                     "autovision"])
    assert code == 0, logs
    [image] = warm["images"]
    assert image["status"] == "built"
    assert image["build_key"] != first["build_key"]
    build = image["build"]
    # The dependency and secret steps come from the registry cache; COPY and after run.
    assert (build["cached"], build["steps"]) == (2, 4), logs
    assert "importing cache manifest from" in logs
    assert "a cache could not be read" not in logs
    assert build["seconds"] < 4, "the 4 s dependency step ran again"
    assert SECRET not in logs
    assert _docker(fresh_engine, "images", "-q", "release-base/busybox:1")  # the fresh engine


def test_a_cache_that_cannot_be_read_is_reported_and_the_build_goes_on(
        tmp_path: Path, cloud_state: LocalState) -> None:
    (tmp_path / "Dockerfile").write_text("FROM release-base/busybox:1\nRUN echo built > /b\n")
    log: list[str] = []
    environ = {**os.environ, "DOCKER_HOST": cloud_state.docker_host}
    with buildkit.session(environ, build_output.BuildLog(log.append)) as builds:
        builds.login(Login(cloud_state.registry_host, "AWS", cloud_state.registry_password))
        report = builds.build("probe", BuildSpec(
            context=str(tmp_path), dockerfile=str(tmp_path / "Dockerfile"),
            image=f"{cloud_state.registry_host}/probe", tag="k1", cache_registry=False,
            cache_from=("127.0.0.1:9/nothing:here",)))  # nothing listens on the discard port
    assert report.digest.startswith("sha256:")
    [unread] = report.unreadable_caches
    assert unread.startswith("127.0.0.1:9/nothing:here: ")
    assert any(line.startswith("probe | note: a cache could not be read, built without it: "
                               "127.0.0.1:9/nothing:here") for line in log)
