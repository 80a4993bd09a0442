"""A container-app canary: the new revision starts with no traffic (Multiple revision
mode), gets ``percent`` of the app's ingress traffic once it runs, passes the HTTP smoke
check against its own URL, holds its share for the interval, then takes all traffic and
the old revision is deactivated. A failed smoke check sets the traffic back on the old
revision alone, deactivates the new one and fails the release with the gate. Decisions
and the report come from ``planning`` (the report and gates are Lambda's kind); this
module reads and moves."""

from __future__ import annotations

from dataclasses import dataclass, replace

from release.adapters import smoke_http
from release.adapters.azure import container_apps, revisions
from release.adapters.azure.container_apps import Api
from release.config.model import AzureAppDeployment
from release.engine.context import Context
from release.errors import ReleaseError
from release.planning import lambda_shift, listener_rules, revision_traffic
from release.planning.lambda_shift import Gate, Report


class RevisionGateFailedError(ReleaseError):
    """The smoke check failed: the traffic is back on the previous revision alone."""

    def __init__(self, message: str, hint: str, report: Report) -> None:
        super().__init__(message, hint)
        self.traffic = report
        self.rolled_back_to = f"revision {report.previous}"


@dataclass(frozen=True)
class Canary:
    """One app's move to ``image`` from the revision that serves now."""

    service: str
    app: AzureAppDeployment
    image: str


def release(ctx: Context, api: Api, canary: Canary) -> tuple[str, Report]:
    """Run the canary; (the new revision, the report), or RevisionGateFailedError."""
    app, traffic = canary.app, canary.app.deployment
    old, _mode, ingress = revisions.serving(api, app)
    if not ingress:
        raise ReleaseError(f"{canary.service}: a canary needs the app's ingress (traffic "
                           "weights and a URL per revision)", "enable ingress on the app "
                           "(`az containerapp ingress enable`), or use strategy: all_at_once")
    if old is None:  # nothing serves yet: nothing to compare the new revision with
        first = container_apps.deploy(api, app, canary.image, ctx.azure_wait())
        return first, Report(traffic.strategy, first, None, reached=(100,))
    new = container_apps.deploy(api, app, canary.image, ctx.azure_wait(), hold_traffic_on=old)
    report = Report(traffic.strategy, new, old)
    stages = revision_traffic.stages(traffic)
    share = stages[0]
    try:
        revisions.set_traffic(api, app, revision_traffic.weights(new, old, share))
        ctx.log(f"{canary.service}: {share}% of {app.name}'s traffic to revision {new}, "
                f"{100 - share}% on {old}")
        report = replace(report, reached=(share,))
        gates = [_smoke(ctx, api, canary, new, share)] if traffic.smoke is not None else []
        report = _hold(ctx, canary, report, gates)
    except ReleaseError as exc:
        _back(ctx, api, canary, old, new)
        raise ReleaseError(f"{canary.service}: {exc.message}; the traffic is back on "
                           f"revision {old}", exc.hint) from None
    if report.failed is not None:
        _back(ctx, api, canary, old, new)
        raise RevisionGateFailedError(
            f"{canary.service}: gate {report.failed.text()}; the traffic is back on revision "
            f"{old} alone", f"revision {new} is deactivated; activate it for a look (`az "
            "containerapp revision activate`), fix it and release again", report)
    revisions.set_traffic(api, app, revision_traffic.weights(new, old, 100))
    ctx.log(f"{canary.service}: revision {new} takes all of {app.name}'s traffic")
    revisions.deactivate(api, app, old)
    return new, replace(report, reached=(*report.reached, 100))


def _smoke(ctx: Context, api: Api, canary: Canary, revision: str, share: int) -> Gate:
    """The HTTP smoke check against the new revision's own URL."""
    smoke = canary.app.deployment.smoke
    assert smoke is not None  # noqa: S101 - the caller checks
    base = revisions.url(api, canary.app, revision)
    if base is None:
        return revision_traffic.smoke_gate(share, False, f"revision {revision} has no URL")
    passed, said = smoke_http.smoke(listener_rules.explicit(base, None, smoke.path), smoke,
                                    clock=ctx.clock, sleep=ctx.sleep)
    return revision_traffic.smoke_gate(share, passed, said)


def _hold(ctx: Context, canary: Canary, report: Report, gates: list[Gate]) -> Report:
    """Keep the share for the interval unless a gate failed; the gates in the report."""
    stages = revision_traffic.stages(canary.app.deployment)
    started = ctx.clock()
    while True:
        decided = lambda_shift.next_move(stages=stages, stage=0, started=started,
                                         now=ctx.clock(),
                                         interval=canary.app.deployment.interval_seconds,
                                         gates=gates)
        if decided.kind != "wait":
            break
        ctx.sleep(decided.seconds)
    for gate in gates:
        ctx.log(f"{canary.service}: gate {gate.text()}")
    return replace(report, gates=tuple(gates), failed=decided.gate)


def _back(ctx: Context, api: Api, canary: Canary, old: str, new: str) -> None:
    """All traffic on ``old`` again; ``new`` deactivated."""
    ctx.log(f"{canary.service}: traffic back on revision {old}; deactivating {new}")
    revisions.set_traffic(api, canary.app, revision_traffic.weights(new, old, 0))
    revisions.deactivate(api, canary.app, new)
