"""The ``docker_host`` target against a real engine reached over SSH: the local engine,
behind an OpenSSH server this module starts on 127.0.0.1:16010 with a host key and a client
key it makes (stopped by PID at the end). The batch detector's image is built and pushed to
this module's own local cloud (16000-16002) and runs with ``network: host`` on port 16011
(the local engine has no bridge network).

What is shown: a first release and a second that changes nothing; a new version released
while requests run in a loop (the longest stretch of failed requests is measured and
printed, and must not be longer than the swap took); a broken image whose health check
fails, after which the old container serves again; ``release rollback``; and a release
refused while another holds the host's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from private_cloud import examples_repo, local_environ, private_cloud

from release.adapters.docker_host import Host
from release.cli import main
from release.config.model import DockerHostDeployment
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

SERVICE = "batch-detector"
SSH_PORT = 16010
APP_PORT = 16011
URL = f"http://127.0.0.1:{APP_PORT}/"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (16000-16002); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 16000) as state:
        yield state


@dataclass(frozen=True)
class Sshd:
    """The test's SSH server and the client config that reaches it."""

    client_config: Path
    user: str


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """OpenSSH's server on 127.0.0.1:16010, keys made here, only the current user allowed."""
    server = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(server).exists():
        pytest.fail("sshd is missing: run scripts/setup.sh (Debian package openssh-server)")
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)],
                       check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    host_pub = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{SSH_PORT} {host_pub[0]} {host_pub[1]}\n")
    user = os.environ.get("USER") or subprocess.check_output(["id", "-un"], text=True).strip()
    (home / "sshd_config").write_text("\n".join([
        f"Port {SSH_PORT}", "ListenAddress 127.0.0.1", f"HostKey {home / 'host_key'}",
        f"AuthorizedKeysFile {home / 'authorized_keys'}", f"PidFile {home / 'sshd.pid'}",
        f"AllowUsers {user}", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "AllowStreamLocalForwarding yes", "AllowTcpForwarding local", "X11Forwarding no",
        "PermitTTY no", ""]))
    (home / "ssh_config").write_text("\n".join([
        "Host 127.0.0.1", f"  IdentityFile {home / 'client_key'}", "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {home / 'known_hosts'}", "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes", ""]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    with (home / "sshd.log").open("wb") as log:
        proc = subprocess.Popen([server, "-D", "-e", "-f", str(home / "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_port(SSH_PORT, proc, home / "sshd.log")
            yield Sshd(home / "ssh_config", user)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("sshd did not listen in 20 s")


@pytest.fixture
def name() -> Iterator[str]:
    """A container name of this test's own; its containers removed afterwards."""
    chosen = f"release-e2e-dh-{uuid.uuid4().hex[:8]}"
    yield chosen
    client = docker.from_env()
    try:
        for suffix in ("", "-previous", "-next", "-release-lock"):
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(chosen + suffix).remove(force=True)
    finally:
        client.close()


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState, sshd: Sshd, name: str) -> Path:
    """The examples, the detector moved from Azure to a Docker host over SSH."""
    root = examples_repo(tmp_path, cloud_state)
    release = root / "release.yaml"
    release.write_text(release.read_text().replace(
        "    azure_container_app: {}", "    docker_host: {}"))
    dockerfile = root / "services/batch-detector/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["httpd", "-f", "-p", "80", "-h", "/srv/www"]',
        'CMD ["sh", "-c", "exec httpd -f -p \\"${PORT:-80}\\" -h /srv/www"]'))
    local = root / "environments/local.yaml"
    config = yaml.safe_load(local.read_text())
    config["services"][SERVICE] = {"docker_host": {
        "host": f"ssh://{sshd.user}@127.0.0.1:{SSH_PORT}", "name": name, "network": "host",
        "env": {"PORT": str(APP_PORT)},
        "secrets": {"DETECTOR_TOKEN": str(secret_file(tmp_path))},
        "health": {"path": "/health", "port": APP_PORT, "timeout_seconds": 15}}}
    local.write_text(yaml.safe_dump(config, sort_keys=False))
    commit(root, "the detector on a Docker host")
    return root


TOKEN = "e2e-token-value-9f8e7d6c"  # a test value, in a file on the "host"


def secret_file(tmp_path: Path) -> Path:
    """The secret's file on the host (the local engine's machine), readable by root only."""
    path = tmp_path / "host-secrets" / "detector_token"
    path.parent.mkdir()
    path.write_text(TOKEN)
    path.chmod(0o600)
    return path


def environ(sshd: Sshd) -> dict[str, str]:
    return {**local_environ(), "RELEASE_SSH_CONFIG": str(sshd.client_config)}


def release(root: Path, sshd: Sshd, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--env", "local", "--root", str(root), "--output", "json"],
                environ=environ(sshd))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert out.strip(), err
    return code, json.loads(out)["data"], err


def deploy(root: Path, sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code, data, _ = release(root, sshd, capsys, "deploy", SERVICE)
    return code, next(r for r in data["results"] if r["target"] == "docker_host")


def commit(root: Path, message: str) -> None:
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", message)


def get(url: str = URL) -> str:
    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - http://127.0.0.1
        text: str = answer.read().decode()
    return text


def new_page(root: Path, heading: str) -> None:
    page = root / "services/batch-detector/app/index.html"
    text = page.read_text()
    page.write_text(text + f"<h2>{heading}</h2>\n")
    commit(root, heading)


class Requests:
    """GET the URL in a loop on a thread; the longest stretch of failures, in seconds."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.results: list[tuple[float, bool]] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                get()
                ok = True
            except OSError:
                ok = False
            self.results.append((time.monotonic(), ok))
            time.sleep(0.05)

    def longest_gap(self) -> float:
        longest, failing_since = 0.0, None
        for at, ok in self.results:
            if not ok and failing_since is None:
                failing_since = at
            elif ok and failing_since is not None:
                longest = max(longest, at - failing_since)
                failing_since = None
        if failing_since is not None:
            longest = max(longest, self.results[-1][0] - failing_since)
        return longest


def test_first_release_then_nothing_to_do(repo: Path, sshd: Sshd, name: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, result = deploy(repo, sshd, capsys)
    assert code == 0, result
    assert result["status"] == "deployed"
    assert result["url"] == f"http://127.0.0.1:{APP_PORT}"  # network: host, the health port
    assert "<h1>batch-detector</h1>" in get()
    client = docker.from_env()
    try:
        running = client.containers.get(name)
        assert running.attrs["Config"]["Image"].startswith("127.0.0.1:16001/batch-detector@sha256:")
        assert running.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        # the secret: a read-only file in the container, its path in _FILE, its value
        # nowhere in the container's configuration
        code, said = running.exec_run(["sh", "-c", 'cat "$DETECTOR_TOKEN_FILE"'])
        assert (code, said.decode()) == (0, TOKEN)
        assert TOKEN not in json.dumps(running.attrs)
        assert running.exec_run(["sh", "-c", 'echo x > "$DETECTOR_TOKEN_FILE"'])[0] != 0
    finally:
        client.close()
    code, again = deploy(repo, sshd, capsys)
    assert code == 0
    assert again["status"] == "unchanged"  # our digest already runs: nothing touched
    code, shown, _ = release(repo, sshd, capsys, "diff", "--exit-code", SERVICE)
    assert code == 0, shown  # nothing differs
    code, planned, _ = release(repo, sshd, capsys, "plan")
    assert code == 0, planned
    assert SERVICE in planned["unchanged"]  # read from the container's labels over SSH
    code, status, err = release(repo, sshd, capsys, "status")
    cell = status["environments"]["local"]["services"][SERVICE]
    assert cell["current"], (cell, err)
    assert cell["commit"] == sandbox.git(repo, "rev-parse", "HEAD").strip()

    new_page(repo, "v2")  # plan and diff see the change before any release
    code, planned, _ = release(repo, sshd, capsys, "plan")
    assert [e["reason"] for e in planned["services"] if e["service"] == SERVICE] == [
        "deployed differs"]
    code, shown, _ = release(repo, sshd, capsys, "diff", "--exit-code", SERVICE)
    assert code == 1, shown


def test_new_version_under_load_then_rollback(repo: Path, sshd: Sshd, name: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, first = deploy(repo, sshd, capsys)
    assert code == 0, first
    before = get()
    new_page(repo, "v2")
    load = Requests()
    load.thread.start()
    try:
        code, second = deploy(repo, sshd, capsys)
    finally:
        load.stop.set()
        load.thread.join(timeout=10)
    assert code == 0, second
    assert "v2" in get()
    gap = load.longest_gap()
    with capsys.disabled():
        print(f"\ndocker_host swap: {second['detail']}; clients saw {gap:.2f} s of failed "
              f"requests ({sum(not ok for _, ok in load.results)} of {len(load.results)}); "
              f"the target took {second['seconds']:.2f} s")
    assert gap <= second["seconds"]
    client = docker.from_env()
    try:
        kept = client.containers.get(f"{name}-previous")
        assert kept.status == "exited"
    finally:
        client.close()

    code, _, err = release(repo, sshd, capsys, "rollback", SERVICE)
    assert code == 0, err
    assert get() == before
    assert "v2" not in get()


def test_broken_image_leaves_the_old_container_serving(
        repo: Path, sshd: Sshd, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, first = deploy(repo, sshd, capsys)
    assert code == 0, first
    before = get()
    (repo / "services/batch-detector/app/health").unlink()  # GET /health now fails
    dockerfile = repo / "services/batch-detector/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        '"exec httpd', '"echo the model file is missing >&2; exec httpd'))
    commit(repo, "no health")
    code, failed = deploy(repo, sshd, capsys)
    assert code == 1
    assert failed["status"] == "failed"
    assert "health check" in failed["message"]
    assert "the previous container serves again" in failed["message"]
    assert "the model file is missing" in (failed["hint"] or "")  # the new one's log lines
    assert get() == before
    client = docker.from_env()
    try:
        assert client.containers.get(name).status == "running"
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(f"{name}-next")
    finally:
        client.close()


def test_a_second_release_while_the_lock_is_held_is_refused(
        repo: Path, sshd: Sshd, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, first = deploy(repo, sshd, capsys)
    assert code == 0, first
    new_page(repo, "v3")
    client = docker.from_env()
    try:
        image = client.containers.get(name).attrs["Config"]["Image"]
        conf = DockerHostDeployment(host="unix:///var/run/docker.sock", name=name)
        with Host(client, conf, "test").locked(image, "another release", print):
            code, refused = deploy(repo, sshd, capsys)
    finally:
        client.close()
    assert code == 1
    assert "holds the host's lock" in refused["message"]
    assert "another release" in refused["message"]
    assert "v3" not in get()
    code, after = deploy(repo, sshd, capsys)  # the lock is released: this one goes through
    assert code == 0, after
    assert "v3" in get()
