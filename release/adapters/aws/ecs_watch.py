"""One poller for every ECS rollout of a command: DescribeServices, 10 services per call.

Each waiting thread registers its rollout and blocks; one of them (the leader) polls for
all, batched per cluster, backing off between rounds (2 s, x1.5, at most 15 s). A rollout
joining while polling is under way restarts the backoff and cuts the leader's pause short,
so it is first looked at after 2 s, not after what is left of a 15 s pause. When the
leader's own rollout ends it hands leadership to another waiting thread. Time is passed
in, so tests run the schedule without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from release.adapters.aws.clients import explain
from release.errors import ReleaseError
from release.planning import rollout


@dataclass(frozen=True)
class Pace:
    """Clock, sleep and the backoff between polling rounds."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    first_delay: float = 2.0
    factor: float = 1.5
    max_delay: float = 15.0


@runtime_checkable
class Wakeable(Protocol):
    """A sleep that ``wake()`` cuts short."""

    def __call__(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when woken."""

    def wake(self) -> None:
        """End the sleep under way (or the next one) now."""


class Nap:
    """A real-time sleep that ``wake()`` cuts short."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def __call__(self, seconds: float) -> None:
        """Sleep ``seconds``, or until woken."""
        self._woken.wait(seconds)
        self._woken.clear()

    def wake(self) -> None:
        """End the sleep under way (or the next one) now."""
        self._woken.set()


def _pause(sleep: Callable[[float], None]) -> Callable[[float], None]:
    """The leader's pause between rounds: a Nap on real time, the given sleep otherwise
    (tests' fake clocks; a fake that can be woken is woken)."""
    return Nap() if sleep is time.sleep else sleep


class RolloutFailedError(ReleaseError):
    """Our deployment did not complete: ``kind`` says how it ended (failed, gone, deadline)."""

    def __init__(self, message: str, hint: str | None = None, *,
                 kind: rollout.VerdictKind = "failed",
                 service: dict[str, Any] | None = None) -> None:
        super().__init__(message, hint)
        self.kind = kind
        self.service = service or {}
        self.rolled_back_to: str | None = None


@dataclass
class _Entry:
    cluster: str
    service: str
    deployment_id: str
    arn: str
    deadline: float
    started: float
    done: bool = False
    described: dict[str, Any] = field(default_factory=dict)
    error: ReleaseError | None = None


class RolloutWatcher:
    """Waits for many rollouts at once with one batched poller."""

    def __init__(self, client: Callable[[], Any], pace: Pace) -> None:
        self._client = client
        self._pace = pace
        self._cond = threading.Condition()
        self._pending: list[_Entry] = []
        self._leader = False
        self._next_at = 0.0
        self._delays = self._schedule()
        self._polled = False  # a round ran since the schedule (re)started
        self._nap = _pause(pace.sleep)
        self.calls = 0  # DescribeServices calls made, for tests and the benchmark

    def wait(self, cluster: str, service: str, deployment_id: str, arn: str,
             deadline_seconds: float) -> dict[str, Any]:
        """Block until deployment ``deployment_id`` runs ``arn``; return the service's description.

        Raises ``RolloutFailedError`` when it failed, is gone, or the deadline passed.
        """
        now = self._pace.clock()
        entry = _Entry(cluster, service, deployment_id, arn, deadline_seconds, now)
        wake = False
        with self._cond:
            if not self._pending:  # idle: start a fresh schedule
                # No rollout completes within seconds: the first look waits one delay, which
                # also lets rollouts started at about the same time share the first call.
                self._delays = self._schedule()
                self._polled = False
                self._next_at = now + next(self._delays)
            elif self._polled:
                # A rollout joining once polling has begun (a later rollout, or a rollback)
                # restarts the backoff, and its first look comes one first delay after it
                # joined even when the pause under way is longer.
                self._delays = self._schedule()
                self._polled = False
                soonest = now + self._pace.first_delay
                if soonest < self._next_at:
                    next(self._delays)  # this look is the schedule's first
                    self._next_at, wake = soonest, True
            self._pending.append(entry)
        if wake and isinstance(self._nap, Wakeable):
            self._nap.wake()
        while True:
            with self._cond:
                while not entry.done and self._leader:
                    self._cond.wait()
                if entry.done:
                    return self._result(entry)
                self._leader = True
            try:
                self._lead(entry)
            finally:
                with self._cond:
                    self._leader = False
                    self._cond.notify_all()

    def _lead(self, own: _Entry) -> None:
        while not own.done:
            while (pause := self._due() - self._pace.clock()) > 0.001:  # not float dust
                self._nap(pause)  # a joining rollout may end it early and move the next look
            self._round()
            with self._cond:
                self._polled = True
                self._next_at = self._pace.clock() + next(self._delays)

    def _due(self) -> float:
        with self._cond:
            return self._next_at

    def _schedule(self) -> Iterator[float]:
        return rollout.delays(self._pace.first_delay, self._pace.factor, self._pace.max_delay)

    @property
    def waiting(self) -> int:
        """How many rollouts are being waited for now."""
        with self._cond:
            return len(self._pending)

    def _round(self) -> None:
        with self._cond:
            pending = list(self._pending)
        by_cluster: dict[str, list[_Entry]] = {}
        for entry in pending:
            by_cluster.setdefault(entry.cluster, []).append(entry)
        for cluster, entries in by_cluster.items():
            for names in rollout.batches([e.service for e in entries]):
                self._poll(cluster, [e for e in entries if e.service in names])
        with self._cond:
            self._pending = [e for e in self._pending if not e.done]
            self._cond.notify_all()

    def _poll(self, cluster: str, entries: list[_Entry]) -> None:
        names = list(dict.fromkeys(e.service for e in entries))
        try:
            self.calls += 1
            found = self._client().describe_services(cluster=cluster, services=names)
        except Exception as exc:  # noqa: BLE001 - every waiter gets the same error
            error = _watch_error(exc, cluster, names)
            for entry in entries:
                entry.error, entry.done = error, True
            return
        described = {s.get("serviceName"): s for s in found.get("services", [])}
        now = self._pace.clock()
        for entry in entries:
            svc = described.get(entry.service)
            if svc is None or svc.get("status") == "INACTIVE":
                entry.error = RolloutFailedError(
                    f"ECS service {cluster}/{entry.service} disappeared during the rollout",
                    "was it deleted? check the cluster", kind="gone")
                entry.done = True
                continue
            verdict = rollout.judge(svc, entry.deployment_id, entry.arn,
                                    elapsed=now - entry.started, deadline=entry.deadline)
            if verdict.kind == "waiting":
                continue
            entry.described, entry.done = svc, True
            if verdict.kind != "completed":
                entry.error = RolloutFailedError(
                    _failure_message(entry, verdict), kind=verdict.kind, service=svc)

    @staticmethod
    def _result(entry: _Entry) -> dict[str, Any]:
        if entry.error is not None:
            raise entry.error
        return entry.described


def _failure_message(entry: _Entry, verdict: rollout.Verdict) -> str:
    what = f"deployment {entry.deployment_id} of {rollout.revision(entry.arn)}"
    if verdict.kind == "failed":
        return f"{what} FAILED: {verdict.detail}"
    if verdict.kind == "gone":
        return f"{what} is gone ({verdict.detail})"
    return f"{what} {verdict.detail}"


def _watch_error(exc: Exception, cluster: str, names: list[str]) -> ReleaseError:
    error = explain(exc, f"watch ECS services {cluster}/{','.join(names)}")
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
        return ReleaseError(
            f"{error.message}; the deployment goes on in ECS, but release stopped watching it",
            "credentials expired mid-wait: authenticate again (`release auth aws --env ENV`, "
            "or a longer role-duration-seconds) and rerun `release deploy`: it waits for "
            "what is running, or `release rollback --env ENV SERVICE` to put the previous "
            "revision back")
    return error
