"""Start, probe and stop the local cloud's processes, always by PID, never by name."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from release.errors import ReleaseError
from release.local.waiting import Timing, wait_until


@dataclass(frozen=True)
class Launch:
    """How to start one component: its command, environment and log file."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str]
    cwd: Path


@dataclass(frozen=True)
class Started:
    """A process we started: its PID and its start time (to recognise it later)."""

    pid: int
    proc_start: int | None


def launch(spec: Launch) -> Started:
    """Start ``spec`` in a new session, stdin from /dev/null, stdout+stderr to its log.

    ``os.posix_spawn`` rather than ``subprocess.Popen``: the child must outlive this
    process, and a Popen object dropped while its child runs warns (ResourceWarning).
    """
    executable = shutil.which(spec.argv[0])
    if executable is None:
        raise ReleaseError(
            f"{spec.name}: cannot start {spec.argv[0]}: not found on PATH",
            hint="run `release local up` again to install it, or install it by hand",
        )
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    with spec.log.open("ab") as log:
        log.write(f"--- release local: starting {' '.join(spec.argv)}\n".encode())
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(spec.log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    _no_inheritance()
    cwd = Path.cwd()
    # posix_spawn has no cwd argument; children resolve relative paths against ours.
    os.chdir(spec.cwd)
    try:
        pid = os.posix_spawn(
            executable, list(spec.argv), dict(spec.env), file_actions=actions, setsid=True
        )
    except OSError as exc:
        raise ReleaseError(
            f"{spec.name}: cannot start {executable}: {exc}", hint=f"read {spec.log}"
        ) from exc
    finally:
        os.chdir(cwd)
    return Started(pid=pid, proc_start=process_start_time(pid))


def _no_inheritance() -> None:
    """Mark every descriptor above stderr close-on-exec, so a component keeps none of its
    starter's: posix_spawn passes on all inheritable ones, and a component outlives its
    starter by design. Held, an inherited lock (``flock FILE release local up``) would stay
    locked and a pipe a CI step reads would never reach end of file."""
    for entry in Path("/proc/self/fd").iterdir():
        fd = int(entry.name)
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, now closed
                os.set_inheritable(fd, False)


def process_start_time(pid: int) -> int | None:
    """The process start time from ``/proc/<pid>/stat`` (clock ticks since boot)."""
    stat = _read_stat(pid)
    if stat is None:
        return None
    # Fields after the parenthesised command name; starttime is field 22 overall.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def is_running(pid: int, proc_start: int | None) -> bool:
    """True when ``pid`` is alive, not a zombie, and is the process we started."""
    _reap(pid)
    stat = _read_stat(pid)
    if stat is None:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in {"Z", "X"}:
        return False
    return proc_start is None or int(fields[19]) == proc_start


class Stopped(Enum):
    """How a process ended when we asked it to."""

    NOT_RUNNING = "not running"
    TERMINATED = "terminated"
    KILLED = "killed"


def stop(pid: int, proc_start: int | None, grace: float, timing: Timing) -> Stopped:
    """SIGTERM ``pid``, wait up to ``grace`` seconds, then SIGKILL it."""
    if not is_running(pid, proc_start):
        return Stopped.NOT_RUNNING
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not is_running(pid, proc_start), grace, timing):
        return Stopped.TERMINATED
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_running(pid, proc_start), 5.0, timing)
    return Stopped.KILLED


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status ``url`` answers with (4xx and 5xx included), None when it does not."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _read_stat(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None


def _reap(pid: int) -> None:
    # A child of this very process stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
