"""ServiceListener: connections on 127.0.0.1 forwarded into other network namespaces.

Each "task" here is ``python -m http.server`` in a namespace of its own made with
``unshare -n`` (only a loopback, as a ``--network none`` container has). Needs root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.local.ecs import listener as listener_module
from release.local.ecs.listener import ServiceListener

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs Linux, root and unshare (util-linux)")

PORT = 8080
# In the new namespace: bring the loopback up (SIOCSIFFLAGS: IFF_UP | IFF_LOOPBACK, what
# `ip link set lo up` does, without needing iproute2), then become the server, same PID.
LO_UP_THEN_EXEC = """
import fcntl, os, socket, struct, sys
with socket.socket() as sock:
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", 0x1 | 0x8))
os.execv(sys.argv[1], sys.argv[1:])
"""


def _listening(pid: int, port: int) -> bool:
    """Whether something listens on ``port`` in process ``pid``'s network namespace."""
    lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    return any(f":{port:04X}" in line.split()[1] and line.split()[3] == "0A" for line in lines)


def _start_server(directory: Path) -> subprocess.Popen[bytes]:
    """``python -m http.server`` serving ``directory`` in a new network namespace."""
    argv = [sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1",
            "--directory", str(directory)]
    proc = subprocess.Popen(["unshare", "-n", sys.executable, "-c", LO_UP_THEN_EXEC, *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _listening(proc.pid, PORT):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail("the namespaced HTTP server did not start")
        time.sleep(0.02)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process we started, by its PID, and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """Two namespaced servers: the first serves ``which.txt`` = "one", the second "two"."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for content in ("one", "two"):
            directory = tmp_path_factory.mktemp(content)
            (directory / "which.txt").write_text(content)
            procs.append(_start_server(directory))
        yield procs[0].pid, procs[1].pid
    finally:
        for proc in procs:
            _stop(proc)


@pytest.fixture
def listener() -> Iterator[ServiceListener]:
    """A listener on a free port, forwarding to port 8080; closed afterwards."""
    service = ServiceListener(0, PORT)
    try:
        yield service
    finally:
        service.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _get(port: int, path: str = "/which.txt") -> bytes:
    """The body of an HTTP/1.0 GET through ``port``."""
    with _connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        response = _read_all(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head
    return body


def _refused(host: str, port: int) -> bool:
    """Whether connecting to ``host:port`` fails as it does where nothing listens."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return exc.errno in (errno.ECONNREFUSED, errno.EADDRNOTAVAIL, errno.ENETUNREACH,
                             errno.EAFNOSUPPORT)
    return False


def _fd_count() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_a_get_through_the_listener_reaches_the_namespaced_server(
        tasks: tuple[int, int], listener: ServiceListener) -> None:
    assert listener.port > 0
    listener.set_targets([tasks[0]])
    assert _get(listener.port) == b"one"
    page = _get(listener.port, "/")
    assert b"which.txt" in page


def test_new_targets_take_new_connections_while_an_open_one_keeps_its_task(
        tasks: tuple[int, int], listener: ServiceListener) -> None:
    listener.set_targets([tasks[0]])
    with _connect(listener.port) as held:
        held.sendall(b"GET /which.txt HTTP/1.0\r\n")  # not finished yet
        time.sleep(0.1)
        listener.set_targets([tasks[1]])
        assert _get(listener.port) == b"two"
        held.sendall(b"\r\n")
        assert _read_all(held).endswith(b"\r\n\r\none")


def test_targets_take_turns(tasks: tuple[int, int], listener: ServiceListener) -> None:
    listener.set_targets(list(tasks))
    assert sorted(_get(listener.port) for _ in range(4)) == [b"one", b"one", b"two", b"two"]


@pytest.mark.parametrize("targets", [[], [2 ** 22 + 17]], ids=["no-targets", "gone-pid"])
def test_without_a_live_target_a_connection_is_closed_at_once(
        listener: ServiceListener, targets: list[int]) -> None:
    listener.set_targets(targets)
    started = time.monotonic()
    with _connect(listener.port) as sock, contextlib.suppress(ConnectionResetError):
        assert sock.recv(100) == b""
    assert time.monotonic() - started < 0.5


def test_a_closed_port_in_the_task_closes_the_connection(tasks: tuple[int, int]) -> None:
    with ServiceListener(0, PORT + 1) as service:
        service.set_targets([tasks[0]])
        with _connect(service.port) as sock, contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""


def test_close_is_quick_ends_open_connections_and_frees_the_port(
        tasks: tuple[int, int]) -> None:
    service = ServiceListener(0, PORT)
    port = service.port
    service.set_targets([tasks[0]])
    with _connect(port) as held:
        held.sendall(b"GET /which.txt HTTP/1.0\r\n")
        time.sleep(0.1)
        started = time.monotonic()
        service.close()
        assert time.monotonic() - started < 2
        assert held.recv(100) == b""
    service.close()  # a second close does nothing
    with pytest.raises(ConnectionRefusedError):
        _connect(port).close()
    with ServiceListener(port, PORT) as again:  # the plane keeps a service's port
        again.set_targets([tasks[1]])
        assert again.port == port
        assert _get(port) == b"two"


def test_it_listens_on_127_0_0_1_only(listener: ServiceListener) -> None:
    listener.set_targets([])
    assert listener._sock.getsockname() == ("127.0.0.1", listener.port)
    assert _refused("127.0.0.2", listener.port)  # another loopback address
    assert _refused("::1", listener.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # the host's own address
        with contextlib.suppress(OSError):
            probe.connect(("192.0.2.1", 9))
        own = probe.getsockname()[0]
    if not own.startswith(("0.", "127.")):  # the host has an address of its own
        assert _refused(own, listener.port)


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(ReleaseError, match=r"cannot listen on 127\.0\.0\.1"):
            ServiceListener(holder.getsockname()[1], PORT)


def test_a_hundred_connections_leak_no_file_descriptors(
        tasks: tuple[int, int], listener: ServiceListener) -> None:
    listener.set_targets([tasks[0]])
    assert _get(listener.port) == b"one"
    before = _fd_count()
    for _ in range(100):
        assert _get(listener.port) == b"one"
    deadline = time.monotonic() + 2  # the pump closes its sockets just after the client's
    while _fd_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _fd_count() <= before  # fewer when the warm-up's were still open at `before`


def test_connections_beyond_the_limit_are_closed(
        tasks: tuple[int, int], listener: ServiceListener,
        monkeypatch: pytest.MonkeyPatch) -> None:
    listener.set_targets([tasks[0]])
    held = [_connect(listener.port) for _ in range(listener_module.MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        with _connect(listener.port) as extra:
            assert extra.recv(100) == b""
        held.pop(0).close()  # the first: surely through to the task (whose backlog is 5)
        time.sleep(0.2)
        assert _get(listener.port) == b"one"
    finally:
        for sock in held:
            sock.close()


def test_without_cap_sys_admin_it_says_root_is_needed() -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux)")
    code = ("from release.errors import ReleaseError\n"
            "from release.local.ecs.listener import ServiceListener\n"
            "try:\n    ServiceListener(0, 80)\n"
            "except ReleaseError as exc:\n    print(exc, '|', exc.hint)\n")
    result = subprocess.run(
        [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=30, check=True)
    assert "needs root: CAP_SYS_ADMIN" in result.stdout
    assert "sudo" in result.stdout
