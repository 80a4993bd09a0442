"""Container output: the last lines of ``docker logs``, and the ``awslogs`` driver's shipping to
CloudWatch Logs through a ``put_logs(group, stream, lines)`` callable (the control plane wires
it to moto). Shipping is simple: every few seconds, and once more when the task stops, each
awslogs container's lines past the ones already sent go out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from release.local.ecs.containers import awslogs_stream

PutLogs = Callable[[str, str, Sequence[str]], None]
Running = Callable[[], "list[tuple[str, Mapping[str, Any], str]]"]

_log = logging.getLogger(__name__)


def last_lines(api: Any, runtime_id: str, lines: int | str) -> list[str]:
    """The container's last ``lines`` lines of output (stdout and stderr; "all": every one)."""
    raw = api.logs(runtime_id, stdout=True, stderr=True, tail=lines)
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return text.splitlines()


class LogShipper:
    """Sends awslogs containers' new output lines; one background thread for the runtime."""

    def __init__(self, put_logs: PutLogs, api: Callable[[], Any], period: float) -> None:
        self._put_logs = put_logs
        self._api = api
        self._period = period
        self._sent: dict[str, int] = {}  # docker id -> lines already sent
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, running: Running) -> None:
        """Ship ``running()``'s containers every period, until ``end``."""

        def loop() -> None:
            while not self._done.wait(self._period):
                for task_arn, definition, runtime_id in running():
                    self.ship(task_arn, definition, runtime_id)

        self._thread = threading.Thread(target=loop, daemon=True, name="ecs-awslogs")
        self._thread.start()

    def end(self) -> None:
        """Stop the background shipping."""
        self._done.set()
        if self._thread:
            self._thread.join(timeout=10)

    def ship(self, task_arn: str, definition: Mapping[str, Any], runtime_id: str) -> None:
        """Send the container's lines not sent yet, when it logs with ``awslogs``."""
        target = awslogs_stream(definition, task_arn)
        if target is None:
            return
        import docker.errors

        with self._lock:  # one sender per container at a time, so no line goes twice
            try:
                lines = last_lines(self._api(), runtime_id, "all")
            except docker.errors.NotFound:
                return
            new = lines[self._sent.get(runtime_id, 0):]
            if not new:
                return
            try:
                self._put_logs(target[0], target[1], new)
            except Exception:  # noqa: BLE001 -- a log sink that fails must not stop the task
                _log.exception("awslogs: sending to %s %s failed", *target)
                return
            self._sent[runtime_id] = len(lines)
