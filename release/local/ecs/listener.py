"""A service's port on 127.0.0.1, forwarding into its tasks: a local load balancer.

Each task has its own network namespace with only a loopback (``--network none``); a
:class:`ServiceListener` forwards each connection to ``127.0.0.1:<container port>`` in the
namespace of one of the service's healthy tasks, round robin.

How a namespace is reached: a socket belongs to the network namespace its creating thread
was in, and keeps it after the thread moves on. The listener's accept thread opens
``/proc/<pid>/ns/net``, ``setns``-es into it (libc through ctypes; Python 3.11 has no
``os.setns``), creates the socket, and ``setns``-es straight back into the namespace it
started in (an fd of ``/proc/self/ns/net`` kept open for that). ``setns`` moves only the
calling thread, so the rest of the process never leaves the host's namespace. One pump
thread then copies bytes both ways with a selector. Measured: setns + socket + setns back
take ~6 us, and an HTTP GET through the listener ~1.0 ms against ~0.5 ms direct, where
spawning ``nsenter`` alone (before a ``socat``) takes 2 to 7 ms: no subprocesses.

Needs CAP_SYS_ADMIN (root): :class:`ServiceListener` raises a :class:`ReleaseError` saying
so otherwise. With no targets, a new connection is closed at once (the client reads EOF
at once), as a load balancer with no healthy targets answers at once rather than hanging.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from typing import cast

from release.errors import ReleaseError

CLONE_NEWNET = 0x40000000
HOST = "127.0.0.1"
MAX_CONNECTIONS = 64  # open at once; one more is closed as soon as it is accepted
CONNECT_TIMEOUT = 2.0  # seconds for the connection to the task to be accepted
TICK = 0.1  # seconds: how often the threads look at the stop flag (their select timeouts)
JOIN_TIMEOUT = 0.8  # seconds close() waits for each thread
CHUNK = 65536  # bytes read at once, and most buffered per direction
ROOT_HINT = "the local cloud runs as root (it starts tasks with Docker); run it with sudo"


class Netns:
    """Creates TCP sockets inside other processes' network namespaces, on its own thread."""

    def __init__(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._setns = libc.setns
        except (OSError, AttributeError) as exc:
            raise ReleaseError("reaching ECS tasks' networks needs Linux (setns)",
                               hint=ROOT_HINT) from exc
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._enter(self._home)  # a no-op move that fails without CAP_SYS_ADMIN
        except OSError as exc:
            os.close(self._home)
            raise ReleaseError(
                f"cannot enter ECS tasks' network namespaces: {exc.strerror}"
                " (needs root: CAP_SYS_ADMIN)", hint=ROOT_HINT) from exc

    def _enter(self, fd: int) -> None:
        """Move the calling thread into the network namespace ``fd`` refers to."""
        if self._setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def socket_in(self, pid: int) -> socket.socket:
        """A new TCP socket in the network namespace of process ``pid``.

        Raises OSError when the process is gone; a RuntimeError when the thread could not
        get back home (it must then create no more sockets)."""
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._enter(target)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                try:
                    self._enter(self._home)
                except OSError as exc:
                    raise RuntimeError(f"could not return to the host network: {exc}") from exc
        finally:
            os.close(target)

    def close(self) -> None:
        """Close the fd of the home namespace."""
        os.close(self._home)


class _Pipe:
    """One direction of a connection: bytes read from ``src``, waiting to go to ``dst``."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.buf = bytearray()
        self.eof = False  # src said it sends no more
        self.shut = False  # dst was told so (shutdown SHUT_WR) once buf was sent

    def wants_read(self) -> bool:
        """Whether to read from src now."""
        return not self.eof and len(self.buf) < CHUNK

    def read(self) -> None:
        """Read what src has (an empty read is its EOF)."""
        data = self.src.recv(CHUNK)
        if data:
            self.buf += data
        else:
            self.eof = True
        self.finish()

    def write(self) -> None:
        """Send what dst takes of the buffer."""
        sent = self.dst.send(self.buf)
        del self.buf[:sent]
        self.finish()

    def finish(self) -> None:
        """Pass src's EOF on to dst once everything before it was sent."""
        if self.eof and not self.buf and not self.shut:
            self.shut = True
            self.dst.shutdown(socket.SHUT_WR)


class _Session:
    """An accepted connection and its connection into a task."""

    def __init__(self, client: socket.socket, upstream: socket.socket, deadline: float) -> None:
        self.client, self.upstream = client, upstream
        self.connect_deadline: float | None = deadline  # None once connected
        self.up = _Pipe(client, upstream)
        self.down = _Pipe(upstream, client)

    def interest(self, sock: socket.socket) -> int:
        """The selector events to wait for on ``sock`` now."""
        if self.connect_deadline is not None:
            return selectors.EVENT_WRITE if sock is self.upstream else 0
        events = 0
        for pipe in (self.up, self.down):
            if pipe.src is sock and pipe.wants_read():
                events |= selectors.EVENT_READ
            if pipe.dst is sock and pipe.buf:
                events |= selectors.EVENT_WRITE
        return events

    def handle(self, sock: socket.socket, events: int) -> None:
        """Move bytes for what ``sock`` is ready for; OSError ends the session."""
        if self.connect_deadline is not None:
            code = self.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            self.connect_deadline = None
            return
        for pipe in (self.up, self.down):
            if events & selectors.EVENT_READ and pipe.src is sock and pipe.wants_read():
                pipe.read()
            if events & selectors.EVENT_WRITE and pipe.dst is sock and pipe.buf:
                pipe.write()

    def done(self) -> bool:
        """Both directions ended and were passed on."""
        return self.up.shut and self.down.shut

    def close(self) -> None:
        """Close both sockets."""
        self.client.close()
        self.upstream.close()


class _Pump:
    """The thread that copies bytes for every open session, with one selector."""

    def __init__(self, on_closed: threading.Semaphore) -> None:
        self._selector = selectors.DefaultSelector()
        self._incoming: queue.SimpleQueue[_Session] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._sessions: set[_Session] = set()
        self._slots = on_closed
        self._stop = threading.Event()

    def add(self, session: _Session) -> None:
        """Hand a new session over (from another thread)."""
        self._incoming.put(session)
        self.wake()

    def wake(self) -> None:
        """Make the selector return now."""
        with contextlib.suppress(OSError):  # full (already woken) or closed
            self._wake_w.send(b"x")

    def stop(self) -> None:
        """Ask the thread to close every session and end."""
        self._stop.set()
        self.wake()

    def run(self) -> None:
        """The thread's body: serve sessions until stopped, then close everything."""
        try:
            while not self._stop.is_set():
                self._take_incoming()
                for key, events in self._selector.select(TICK):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._serve(key.data, cast(socket.socket, key.fileobj), events)
                self._expire()
        finally:
            self._take_incoming()
            for session in list(self._sessions):
                self._end(session)
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _drain_wake(self) -> None:
        """Empty the wake-up socket."""
        with contextlib.suppress(OSError):
            while self._wake_r.recv(CHUNK):
                pass

    def _take_incoming(self) -> None:
        """Start watching the sessions handed over since the last look."""
        while True:
            try:
                session = self._incoming.get_nowait()
            except queue.Empty:
                return
            self._sessions.add(session)
            self._update(session)

    def _serve(self, session: _Session, sock: socket.socket, events: int) -> None:
        """Let ``session`` handle events on ``sock``; end it on error or when done."""
        if session not in self._sessions:
            return  # ended earlier in this round
        try:
            session.handle(sock, events)
        except OSError:
            self._end(session)
            return
        if session.done():
            self._end(session)
        else:
            self._update(session)

    def _update(self, session: _Session) -> None:
        """Match the selector to what the session's sockets wait for."""
        for sock in (session.client, session.upstream):
            events = session.interest(sock)
            try:
                registered = self._selector.get_key(sock).events
            except KeyError:
                registered = 0
            if events == registered:
                continue
            if not events:
                self._selector.unregister(sock)
            elif not registered:
                self._selector.register(sock, events, session)
            else:
                self._selector.modify(sock, events, session)

    def _expire(self) -> None:
        """End sessions whose connection into the task took too long."""
        now = time.monotonic()
        for session in list(self._sessions):
            if session.connect_deadline is not None and now > session.connect_deadline:
                self._end(session)

    def _end(self, session: _Session) -> None:
        """Stop watching the session, close its sockets and free its slot."""
        for sock in (session.client, session.upstream):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
        session.close()
        self._sessions.discard(session)
        self._slots.release()


class ServiceListener:
    """A TCP listener on ``127.0.0.1:host_port`` forwarding to the service's tasks.

    ``host_port`` 0 picks a free port; :attr:`port` is the one bound. Each accepted
    connection goes to ``127.0.0.1:container_port`` in the network namespace of the next
    target (round robin over :meth:`set_targets`'s PIDs) and stays with that task until it
    closes, whatever the targets become. With no targets, or when the targets' processes
    are gone, or with :data:`MAX_CONNECTIONS` already open, a new connection is closed at
    once. Threads are daemons; :meth:`close` is bounded in time.
    """

    def __init__(self, host_port: int, container_port: int) -> None:
        self.container_port = container_port
        self._netns = Netns()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((HOST, host_port))
            self._sock.listen(MAX_CONNECTIONS)
        except OSError as exc:
            self._sock.close()
            self._netns.close()
            raise ReleaseError(f"cannot listen on {HOST}:{host_port}: {exc.strerror}",
                               hint="another process holds that port; stop it") from exc
        self._sock.settimeout(TICK)
        self.port: int = self._sock.getsockname()[1]  # the bound port
        self._lock = threading.Lock()
        self._targets: tuple[int, ...] = ()
        self._next = 0
        self._slots = threading.Semaphore(MAX_CONNECTIONS)
        self._stopping = threading.Event()
        self._closed = False
        self._pump = _Pump(self._slots)
        self._pump_thread = threading.Thread(
            target=self._pump.run, name=f"listener-{self.port}-pump", daemon=True)
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"listener-{self.port}-accept", daemon=True)
        self._pump_thread.start()
        self._accept_thread.start()

    def set_targets(self, netns_pids: Sequence[int]) -> None:
        """Send new connections to these PIDs' network namespaces from now on (round robin)."""
        with self._lock:
            if tuple(netns_pids) != self._targets:  # the same ones keep their turn
                self._targets = tuple(netns_pids)
                self._next = 0

    def close(self) -> None:
        """Stop accepting, close every open connection and join the threads (about 2 s at most)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._accept_thread.join(JOIN_TIMEOUT)
        self._sock.close()
        self._pump.stop()
        self._pump_thread.join(JOIN_TIMEOUT)
        if not self._accept_thread.is_alive():
            self._netns.close()

    def __enter__(self) -> ServiceListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        """The accept thread's body (it is also the thread that visits namespaces)."""
        while not self._stopping.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:  # e.g. out of fds, or the socket closed: pause, look again
                self._stopping.wait(TICK)
                continue
            session = None
            if self._slots.acquire(blocking=False):
                try:
                    session = self._open(client)
                except RuntimeError:  # stuck in a task's namespace: accept nothing more
                    self._stopping.set()
                if session is None:
                    self._slots.release()
            if session is None:
                client.close()
            else:
                self._pump.add(session)

    def _open(self, client: socket.socket) -> _Session | None:
        """Start connecting to the next target that still exists; None when none does."""
        client.setblocking(False)
        for pid in self._round():
            try:
                upstream = self._netns.socket_in(pid)
            except OSError:
                continue  # the task's process is gone; try the next one
            upstream.setblocking(False)
            code = upstream.connect_ex((HOST, self.container_port))
            if code not in (0, errno.EINPROGRESS):
                upstream.close()
                return None
            return _Session(client, upstream, time.monotonic() + CONNECT_TIMEOUT)
        return None

    def _round(self) -> list[int]:
        """Every target once, starting with the next in round robin order; advances it."""
        with self._lock:
            targets, start = self._targets, self._next
            if targets:
                self._next = (start + 1) % len(targets)
        return [targets[(start + i) % len(targets)] for i in range(len(targets))]
