"""A Docker engine on another machine, reached through an SSH tunnel to its socket.

``ssh -N -L <private socket>:<engine socket> USER@HOST`` forwards a socket in a private
directory here to the engine's socket there; the Docker SDK talks to the local end as it
would to a local engine. Why not the SDK's ``ssh://`` (``use_ssh_client=True``) or the CLI's
``-H ssh://``: both run ``docker system dial-stdio`` on the host (the docker CLI must be
installed there), the SDK imports paramiko even then (not a dependency here), and neither
takes an ssh_config of the release's own (``-F``). The tunnel needs only ``ssh`` here and
sshd's stream-local forwarding there (on by default), and nothing is written on the host.

The ssh client is the machine's own: its ``~/.ssh/config``, agent and ``known_hosts``
(unknown host keys are refused: ``BatchMode``). ``RELEASE_SSH_CONFIG``, when set in the
release's environment, names an ssh_config file used instead (``-F``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from release import names
from release.adapters.docker_engine import unix_socket_refuses
from release.config.docker_host import Endpoint
from release.errors import ReleaseError

SSH_CONFIG_VARIABLE = "RELEASE_SSH_CONFIG"
OPEN_SECONDS = 30  # the tunnel's socket must answer within this
API_TIMEOUT = 120


def ssh_command(endpoint: Endpoint, local_socket: str, config: str | None) -> list[str]:
    """The ssh command line of the tunnel: every value of the config is a separate
    argument after checked options, the host after ``--`` (never read as an option)."""
    args = ["ssh", *(["-F", config] if config else []), "-N", "-T",
            "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
            "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15",
            "-L", f"{local_socket}:{endpoint.socket}"]
    if endpoint.port:
        args += ["-p", str(endpoint.port)]
    if endpoint.user:
        args += ["-l", endpoint.user]
    return [*args, "--", endpoint.host]


@contextmanager
def engine(endpoint: Endpoint, environ: Mapping[str, str]) -> Iterator[Any]:
    """A Docker SDK client for ``endpoint``'s engine (through a tunnel for ssh://), closed,
    and the tunnel stopped by PID, on the way out."""
    if endpoint.scheme == "unix":
        with _client(endpoint.socket, str(endpoint)) as client:
            yield client
        return
    with _tunnel(endpoint, environ.get(SSH_CONFIG_VARIABLE)) as local, \
            _client(local, str(endpoint)) as client:
        yield client


@contextmanager
def _tunnel(endpoint: Endpoint, config: str | None) -> Iterator[str]:
    if shutil.which("ssh") is None:
        raise ReleaseError(f"cannot reach {endpoint}: no ssh client on this machine",
                           "install OpenSSH's client (Debian: openssh-client)")
    private = Path(tempfile.mkdtemp(prefix="release-ssh-"))  # mode 0700: ours alone
    local = str(private / "docker.sock")
    errors = (private / "ssh.err").open("wb")
    proc = subprocess.Popen(ssh_command(endpoint, local, config),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        _wait_open(proc, local, endpoint, private / "ssh.err")
        yield local
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors.close()
        shutil.rmtree(private, ignore_errors=True)


def _wait_open(proc: subprocess.Popen[bytes], local: str, endpoint: Endpoint,
               err_file: Path) -> None:
    deadline = time.monotonic() + OPEN_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = err_file.read_bytes()[-2000:].decode("utf-8", "replace").strip()
            raise ReleaseError(
                f"cannot reach {endpoint}: ssh exited with {proc.returncode}: "
                f"{names.printable(said) or 'no message'}",
                "check that the host's key is in known_hosts, that the key for the user is "
                f"loaded (ssh-agent or ~/.ssh/config; or set {SSH_CONFIG_VARIABLE} to an "
                "ssh_config file), that sshd allows stream-local forwarding and that the "
                "user may use the Docker socket")
        if Path(local).exists() and unix_socket_refuses(f"unix://{local}") is None:
            return
        time.sleep(0.1)
    raise ReleaseError(f"cannot reach {endpoint}: the SSH tunnel did not open in "
                       f"{OPEN_SECONDS} s", "check that the host answers on its SSH port")


@contextmanager
def _client(socket_path: str, shown: str) -> Iterator[Any]:
    import docker  # deferred: most commands never talk to Docker
    from docker.errors import DockerException

    refused = unix_socket_refuses(f"unix://{socket_path}")
    if refused:
        raise ReleaseError(f"Docker engine not reachable at {shown}: {refused}",
                           "start Docker on the host, or fix docker_host.host")
    client = None
    try:
        try:
            client = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=API_TIMEOUT)
            client.ping()
        except (TimeoutError, DockerException, OSError) as exc:
            raise ReleaseError(
                f"Docker engine at {shown} does not answer: {names.printable(str(exc))[:400]}",
                "check that the user may use the Docker socket (the docker group, or root) "
                "and, over SSH, that sshd allows forwarding to it (AllowTcpForwarding and "
                "AllowStreamLocalForwarding: both yes by default)") from None
        yield client
    finally:
        if client is not None:
            with suppress(Exception):
                client.close()
