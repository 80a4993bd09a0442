"""Pure decisions of a Lambda canary or linear release: the new version's share at each
stage, the alias's routing for a share, the gates' verdicts, and when to wait, step,
finish or roll back. No I/O: the engine passes in the clock's reading and what it read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from release.config.model import Environment, LambdaTraffic
from release.planning.reconcile import Entry

ALARM = "ALARM"
POLL_SECONDS = 5.0  # how often alarms are read during an interval (at most)
GateName = Literal["smoke", "alarms", "provisioned_concurrency"]


def shares(strategy: str, percent: int) -> tuple[int, ...]:
    """The new version's share of traffic at each stage, in percent; the last is 100.
    all_at_once: (100,); canary: (percent, 100); linear: (p, 2p, ..., 100)."""
    if strategy == "canary":
        return (percent, 100)
    if strategy == "linear":
        return (*range(percent, 100, percent), 100)
    return (100,)


def routing(version: str, share: int) -> dict[str, dict[str, float]]:
    """The alias's RoutingConfig giving ``version`` ``share`` percent (100: no weights; the
    alias itself then points at it)."""
    if share >= 100:
        return {"AdditionalVersionWeights": {}}
    return {"AdditionalVersionWeights": {version: round(share / 100, 4)}}


@dataclass(frozen=True)
class Gate:
    """One gate's verdict at one stage."""

    name: GateName
    passed: bool
    share: int  # the new version's share when it was checked
    detail: str = ""

    def text(self) -> str:
        """``smoke passed at 10%`` / ``alarms failed at 10%: errors-high in ALARM``."""
        verdict = "passed" if self.passed else "failed"
        return f"{self.name} {verdict} at {self.share}%" + (f": {self.detail}" if self.detail
                                                             else "")


def smoke_gate(share: int, *, function_error: str | None, answer: str,
               expect_contains: str | None) -> Gate:
    """The smoke invoke's verdict: no function error, and the expected text in the answer."""
    if function_error is not None:
        return Gate("smoke", False, share, f"the function failed ({function_error}): "
                                           f"{answer[:200]}")
    if expect_contains is not None and expect_contains not in answer:
        return Gate("smoke", False, share, f"the answer does not contain {expect_contains!r}: "
                                           f"{answer[:200]}")
    return Gate("smoke", True, share)


def alarm_gate(share: int, names: Sequence[str], states: Mapping[str, str]) -> Gate:
    """The alarms' verdict: none in ALARM, and every one named exists (an alarm that
    cannot be read guards nothing)."""
    firing = [name for name in names if states.get(name) == ALARM]
    missing = [name for name in names if name not in states]
    if firing:
        return Gate("alarms", False, share, f"{', '.join(firing)} in ALARM")
    if missing:
        return Gate("alarms", False, share, f"no such alarm: {', '.join(missing)}")
    return Gate("alarms", True, share)


@dataclass(frozen=True)
class Move:
    """What to do next: ``wait`` (``seconds``), ``step`` to the next share, ``finish`` (the
    alias moves fully), or ``roll_back`` because ``gate`` failed."""

    kind: Literal["wait", "step", "finish", "roll_back"]
    seconds: float = 0.0
    gate: Gate | None = None


def next_move(*, stages: Sequence[int], stage: int, started: float, now: float,
              interval: float, gates: Sequence[Gate], poll: float = POLL_SECONDS) -> Move:
    """After reading the gates at stage ``stage`` (watched since ``started``): roll back on
    a failed gate, wait until the interval is over, then step, or finish after the last
    share below 100."""
    failed = next((gate for gate in gates if not gate.passed), None)
    if failed is not None:
        return Move("roll_back", gate=failed)
    left = started + interval - now
    if left > 0:
        return Move("wait", seconds=min(poll, left))
    return Move("finish") if stage + 1 >= len(stages) - 1 else Move("step")


@dataclass(frozen=True)
class Report:
    """What a progressive release did: shares reached, gate verdicts, the failed gate."""

    strategy: str
    version: str
    previous: str | None
    reached: tuple[int, ...] = ()
    gates: tuple[Gate, ...] = ()
    failed: Gate | None = None

    def text(self) -> str:
        """One line: strategy, shares reached, gate results (the failed one named)."""
        stages = " -> ".join(f"{share}%" for share in self.reached) or "no traffic moved"
        line = f"{self.strategy} {stages}"
        if self.failed is not None:
            line += f"; rolled back to version {self.previous}: gate {self.failed.text()}"
        passed = [gate.text() for gate in self.gates if gate.passed]
        return line + (f"; {'; '.join(passed)}" if passed else "")


def describe(traffic: LambdaTraffic) -> str:
    """The strategy and gates in a few words, for plan, diff and dry runs."""
    if traffic.strategy == "all_at_once":
        return "all at once"
    stages = " -> ".join(f"{share}%" for share in shares(traffic.strategy, traffic.percent))
    gates = [*(["smoke"] if traffic.smoke else []),
             *([f"alarms ({len(traffic.alarms)})"] if traffic.alarms else [])]
    return (f"{traffic.strategy} {stages}, {traffic.interval_seconds}s per share"
            + (f"; gates: {', '.join(gates)}" if gates else "; no gates"))


def annotated(env: Environment, entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """`release plan`'s entries, a Lambda canary or linear release's strategy and gates
    added to the detail of its service."""
    out = []
    for entry in entries:
        dep = env.deployments.get(entry.service)
        lam = dep.lambda_ if dep is not None else None
        if lam is None or lam.deployment.strategy == "all_at_once":
            out.append(entry)
            continue
        shown = f"lambda: {describe(lam.deployment)}"
        out.append(replace(entry, detail=f"{entry.detail}; {shown}" if entry.detail else shown))
    return tuple(out)
