"""Warm execution environments, as Lambda keeps them: per function version, one invocation
at a time each, a new one when all are busy (up to a bound: past it, Lambda's throttle),
stopped after an idle time, when broken (timed out, exited), on reset and on close."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from release.local.lambda_.function import FunctionConfig
from release.local.lambda_.runtime_api import Invocation

IDLE_SECONDS = 300.0  # a warm environment unused this long is stopped
MAX_ENVIRONMENTS = 8  # at once, over every function (2 CPU cores here)
_log = logging.getLogger(__name__)


class Runnable(Protocol):
    """What the pool needs of an execution environment (``environment.Environment``)."""

    config: FunctionConfig
    broken: bool
    last_used: float

    def start(self) -> None:
        """Start it (raises when it cannot)."""

    def invoke(self, invocation: Invocation) -> object:
        """Run one invocation to its end."""

    def stop(self) -> None:
        """Stop and remove it."""


class ThrottledError(Exception):
    """Every environment is busy and no more may start: Lambda's TooManyRequestsException."""


@dataclass
class _Slot:
    environment: Runnable
    busy: bool


class Pool:
    """The warm environments of every function; a daemon thread stops the idle ones."""

    def __init__(self, make: Callable[[FunctionConfig], Runnable], *,
                 idle_seconds: float = IDLE_SECONDS, limit: int = MAX_ENVIRONMENTS,
                 clock: Callable[[], float] = time.time) -> None:
        self._make = make
        self._idle, self._limit, self._clock = idle_seconds, limit, clock
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._starting = 0
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="lambda-reaper",
                                        daemon=True)
        self._reaper.start()

    def invoke(self, config: FunctionConfig, invocation: Invocation) -> object:
        """Run ``invocation`` on a warm environment of ``config`` (one started if none is
        free); the environment goes back to the pool, or is stopped when broken."""
        slot = self._take(config)
        if slot is None:
            slot = self._start(config)
        try:
            ended = slot.environment.invoke(invocation)
        except Exception:
            slot.environment.broken = True
            raise
        finally:
            self._give_back(slot)
        return ended

    def _take(self, config: FunctionConfig) -> _Slot | None:
        with self._lock:
            for slot in self._slots:
                if not slot.busy and slot.environment.config == config:
                    slot.busy = True
                    return slot
            if len(self._slots) + self._starting >= self._limit:
                raise ThrottledError(f"{self._limit} execution environments are busy")
            self._starting += 1
            return None

    def _start(self, config: FunctionConfig) -> _Slot:
        try:
            environment = self._make(config)
            environment.start()
        finally:
            with self._lock:
                self._starting -= 1
        slot = _Slot(environment, busy=True)
        with self._lock:
            closed = self._stop.is_set()
            if not closed:
                self._slots.append(slot)
        if closed:
            environment.stop()
            raise RuntimeError("the Lambda runtime is closed")
        return slot

    def _give_back(self, slot: _Slot) -> None:
        with self._lock:
            slot.busy = False
            broken = slot.environment.broken or self._stop.is_set()
            if broken and slot in self._slots:
                self._slots.remove(slot)
        if broken:
            slot.environment.stop()

    def reap(self) -> int:
        """Stop the environments idle for longer than the idle time; how many."""
        now = self._clock()
        with self._lock:
            idle = [s for s in self._slots
                    if not s.busy and now - s.environment.last_used >= self._idle]
            for slot in idle:
                self._slots.remove(slot)
        for slot in idle:
            slot.environment.stop()
        return len(idle)

    def reset(self) -> None:
        """Stop every idle environment now (moto forgot the functions); busy ones stop when
        their invocation ends."""
        with self._lock:
            idle = [s for s in self._slots if not s.busy]
            for slot in self._slots:
                slot.environment.broken = True
            self._slots = [s for s in self._slots if s.busy]
        for slot in idle:
            slot.environment.stop()

    def close(self) -> None:
        """Stop the reaper and every environment."""
        self._stop.set()
        self.reset()
        self._reaper.join(2.0)

    def count(self) -> int:
        """How many environments are kept (busy or not)."""
        with self._lock:
            return len(self._slots)

    def _reap_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must outlive one failed stop
                _log.exception("stopping an idle Lambda environment failed")
