"""A Lambda canary or linear release: the alias's weights moved stage by stage, each share
watched by the gates (a smoke invoke of the new version, CloudWatch alarms, the alias's
provisioned concurrency getting READY), rolled back to the previous version alone when a
gate fails. Decisions come from ``planning.lambda_shift``; this module reads and moves."""

from __future__ import annotations

from dataclasses import dataclass, replace

from release.adapters.aws import cloudwatch, lambda_, lambda_invoke
from release.config.model import LambdaTraffic
from release.engine.context import Context
from release.errors import ReleaseError
from release.planning import lambda_shift
from release.planning.lambda_shift import Gate, Report

PROVISIONED_DEADLINE = 600.0  # seconds for provisioned concurrency to get READY per move


class GateFailedError(ReleaseError):
    """A gate failed: the alias is back on the previous version alone."""

    def __init__(self, message: str, hint: str, report: Report) -> None:
        super().__init__(message, hint)
        self.traffic = report
        self.rolled_back_to = f"version {report.previous}"


@dataclass(frozen=True)
class Shift:
    """One function's move from ``previous`` to ``version`` through its alias."""

    service: str
    function: str
    alias: str
    previous: str
    version: str
    traffic: LambdaTraffic


def shift(ctx: Context, move: Shift) -> Report:
    """Move the alias stage by stage; the Report, or GateFailedError after rolling back."""
    stages = lambda_shift.shares(move.traffic.strategy, move.traffic.percent)
    report = Report(move.traffic.strategy, move.version, move.previous)
    lam = ctx.client("lambda")
    provisioned = lambda_.provisioned_status(lam, move.function, move.alias) is not None
    try:
        for stage in range(len(stages) - 1):
            report = _stage(ctx, move, report, stages=stages, stage=stage,
                            provisioned=provisioned)
            if report.failed is not None:
                break
    except ReleaseError as exc:
        _back(ctx, move)
        raise ReleaseError(f"{move.service}: {exc.message}; the alias {move.alias} is back "
                           f"on version {move.previous}", exc.hint) from None
    if report.failed is None:
        lambda_.route_alias(lam, move.function, move.alias, move.version,
                            lambda_shift.routing(move.version, 100))
        ctx.log(f"{move.service}: alias {move.alias} on version {move.version} (100%)")
        report = replace(report, reached=(*report.reached, 100))
        if provisioned:
            gate = _provisioned(ctx, move, 100)
            report = replace(report, gates=(*report.gates, gate),
                             failed=None if gate.passed else gate)
    if report.failed is not None:
        _back(ctx, move)
        raise GateFailedError(
            f"{move.service}: gate {report.failed.text()}; alias {move.alias} is back on "
            f"version {move.previous} alone", "see the gate's detail; version "
            f"{move.version} stays published for a look (invoke it with `release invoke "
            f"--qualifier {move.version}`)", report)
    return report


def _stage(ctx: Context, move: Shift, report: Report, *, stages: tuple[int, ...], stage: int,
           provisioned: bool) -> Report:
    """Give the new version its share, run the gates through the interval."""
    share = stages[stage]
    lambda_.route_alias(ctx.client("lambda"), move.function, move.alias, move.previous,
                        lambda_shift.routing(move.version, share))
    ctx.log(f"{move.service}: alias {move.alias}: {share}% to version {move.version}, "
            f"{100 - share}% on {move.previous}")
    report = replace(report, reached=(*report.reached, share))
    gates: list[Gate] = []
    if provisioned:
        gates.append(_provisioned(ctx, move, share))
    if stage == 0 and move.traffic.smoke is not None:
        gates.append(_smoke(ctx, move, share))
    started = ctx.clock()
    while True:
        alarms = _alarms(ctx, move, share)
        now = [*gates, *([alarms] if alarms else [])]
        decided = lambda_shift.next_move(stages=stages, stage=stage, started=started,
                                         now=ctx.clock(), interval=move.traffic.interval_seconds,
                                         gates=now)
        if decided.kind == "wait":
            ctx.sleep(decided.seconds)
            continue
        for gate in now:
            ctx.log(f"{move.service}: gate {gate.text()}")
        return replace(report, gates=(*report.gates, *now), failed=decided.gate)


def _smoke(ctx: Context, move: Shift, share: int) -> Gate:
    """Invoke the new version (its number as the qualifier) with the smoke payload."""
    smoke = move.traffic.smoke
    assert smoke is not None  # noqa: S101 - the caller checks
    try:
        seconds = lambda_invoke.timeout_of(ctx.client("lambda"), move.function, move.version)
        assert ctx.aws is not None  # noqa: S101 - ctx.client succeeded
        invoked = lambda_invoke.invoke(
            ctx.aws.invoke_client(seconds + lambda_invoke.COLD_START_SECONDS), move.function,
            move.version, smoke.payload.encode())
    except ReleaseError as exc:
        return Gate("smoke", False, share, f"the invoke failed: {exc.message}")
    return lambda_shift.smoke_gate(share, function_error=invoked.function_error,
                                   answer=invoked.payload.decode("utf-8", "replace"),
                                   expect_contains=smoke.expect_contains)


def _alarms(ctx: Context, move: Shift, share: int) -> Gate | None:
    """The alarms' verdict now (None: no alarms configured)."""
    if not move.traffic.alarms:
        return None
    states = cloudwatch.alarm_states(ctx.client("cloudwatch"), move.traffic.alarms)
    return lambda_shift.alarm_gate(share, move.traffic.alarms, states)


def _provisioned(ctx: Context, move: Shift, share: int) -> Gate:
    """Wait for the alias's provisioned concurrency to be READY after a move."""
    deadline = ctx.clock() + PROVISIONED_DEADLINE
    while True:
        found = lambda_.provisioned_status(ctx.client("lambda"), move.function, move.alias)
        if found is None or found[0] == "READY":
            return Gate("provisioned_concurrency", True, share)
        if found[0] == "FAILED" or ctx.clock() >= deadline:
            return Gate("provisioned_concurrency", False, share,
                        f"{found[0]}: {found[1] or 'not READY in time'}")
        ctx.sleep(lambda_shift.POLL_SECONDS)


def _back(ctx: Context, move: Shift) -> None:
    """The alias on the previous version alone, no weights left."""
    ctx.log(f"{move.service}: rolling alias {move.alias} back to version {move.previous}")
    lambda_.route_alias(ctx.client("lambda"), move.function, move.alias, move.previous,
                        lambda_shift.routing(move.previous, 100))
