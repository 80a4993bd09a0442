"""The job summary of ``release deploy``: what a reviewer reads on the run's page.

One table per environment (one deploy is one environment), failures first, each failure's
message and hint below it, and a one-line diagram of the release: plan -> build -> deploy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from release.adapters.buildkit import BuildReport
    from release.engine.apply import Outcome


class Result(Protocol):
    """What a deploy's summary is made from."""

    @property
    def environment(self) -> str:
        """The environment deployed to."""

    @property
    def commit(self) -> str:
        """The commit released."""

    @property
    def dry_run(self) -> bool:
        """True when nothing was changed."""

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        """Every target's outcome."""

ICONS = {"failed": "❌", "deployed": "✅", "unchanged": "⬜", "planned": "📝", "skipped": "⏭️",
         "paused": "⏸️"}
HEADERS = ("", "service", "target", "why", "image", "digest", "revision / version", "rollout",
           "url", "time")


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def image(o: Outcome) -> str:
    """built | reused | (nothing: no image, or it failed before one existed)."""
    return "built" if o.built else ("reused" if o.digest else "")


def rollout(o: Outcome) -> str:
    """The result of the target's change, with the revision put back after a failure."""
    if o.rolled_back_to:
        return f"{o.status}, rolled back to {o.rolled_back_to}"
    return o.status


def row(o: Outcome) -> str:
    """One table row."""
    cells = (ICONS.get(o.status, ""), o.service, o.target, o.reason, image(o),
             f"`{o.digest[:19]}`" if o.digest else "", o.detail, rollout(o),
             o.url or "", f"{o.seconds:.1f}s" if o.seconds else "")
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def build_cells(report: BuildReport | None) -> tuple[str, str, str, str, str]:
    """builder, platforms, cached steps (hit/total), size, tags of one build ("" when reused)."""
    if report is None:
        return ("", "", "", "", "")
    size = f"{report.size / 1e6:.1f} MB" if report.size is not None else ""
    tags = " ".join(f"`{t.rsplit(':', 1)[-1]}`" for t in report.tags)
    return (report.builder, ", ".join(report.platforms), f"{report.cached}/{report.steps}",
            size, tags)


def builds(outcomes: Iterable[Outcome]) -> list[str]:
    """A table of the images built in this run (none: no lines)."""
    seen = {o.service: o.build for o in outcomes if o.build is not None}
    if not seen:
        return []
    lines = ["", "| image built | builder | platforms | time | cached steps | size | digest "
             "| tags |", "|---|---|---|---|---|---|---|---|"]
    for service, report in sorted(seen.items()):
        builder, platforms, cached, size, tags = build_cells(report)
        cells = (service, builder, platforms, f"{report.seconds:.1f}s", cached, size,
                 f"`{report.digest[:19]}`", tags)
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return lines


def delivery(outcomes: Iterable[Outcome]) -> list[str]:
    """Per target with a strategy or gates: the gate results, the stages reached and, when it
    failed or rolled back, which gate failed (no lines when no target has any)."""
    rows = [o for o in outcomes if getattr(o, "progress", ())]
    if not rows:
        return []
    lines = ["", "| progressive delivery | status | gates and stages |", "|---|---|---|"]
    for o in rows:
        said = "<br>".join(cell(p) for p in o.progress)
        lines.append(f"| {cell(o.service)} {cell(o.target)} | {ICONS.get(o.status, '')} "
                     f"{cell(o.status)} | {said} |")
    return lines


def traffic(outcomes: Iterable[Outcome]) -> list[str]:
    """A table of the progressive traffic moves (Lambda canary / linear): the stages each
    reached, every gate's verdict, and the gate that failed (none: no lines)."""
    moved = [(o, o.traffic) for o in outcomes if o.traffic is not None]
    if not moved:
        return []
    lines = ["", "| traffic | strategy | stages reached | gates | failed gate |",
             "|---|---|---|---|---|"]
    for o, report in moved:
        cells = (f"{o.service} {o.target}", report.strategy,
                 " → ".join(f"{share}%" for share in report.reached) or "none",
                 "; ".join(("✅ " if g.passed else "❌ ") + g.text() for g in report.gates),
                 report.failed.text() if report.failed else "")
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return lines


def _many(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _count(label: str, counts: Iterable[tuple[str, int]]) -> str:
    said = ", ".join(f"{n} {what}" for what, n in counts if n)
    return f"{label}: {said}" if said else f"{label}: nothing"


def diagram(result: Result) -> list[str]:
    """plan -> build -> deploy ENV, each box with its counts; red where something failed."""
    outcomes = result.outcomes
    services = {o.service for o in outcomes}
    by_service = {o.service: o for o in outcomes}.values()
    build_failed = sum(o.status == "failed" and o.message.startswith("build:")
                       for o in by_service)
    build = [("built", sum(o.built for o in by_service)),
             ("reused", sum(bool(o.digest) and not o.built for o in by_service)),
             ("failed", build_failed)]
    deploy = [(s, sum(o.status == s for o in outcomes))
              for s in ("deployed", "unchanged", "planned", "failed", "skipped")]
    where = f"deploy {result.environment}" + (" (dry run)" if result.dry_run else "")
    lines = ["```mermaid", "flowchart LR",
             f'  plan["plan: {_many(len(services), "service")}, '
             f'{_many(len(outcomes), "target")}"]',
             f'  build["{_count("build", build)}"]',
             f'  deploy["{_count(where, deploy)}"]',
             "  plan --> build --> deploy"]
    if build_failed:
        lines.append("  style build fill:#fdd,stroke:#c00")
    if any(o.status == "failed" for o in outcomes):
        lines.append("  style deploy fill:#fdd,stroke:#c00")
    return [*lines, "```"]


def deploy_markdown(result: Result) -> str:
    """The whole summary of one deploy."""
    ordered = sorted(result.outcomes, key=lambda o: (o.status != "failed", o.service, o.target))
    failed = [o for o in ordered if o.status == "failed"]
    title = (f"### release to `{result.environment}` at `{result.commit[:12]}`"
             + (" (dry run)" if result.dry_run else "")
             + (f": {len(failed)} failed" if failed else ""))
    lines = [title, "", *diagram(result), "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += [row(o) for o in ordered]
    lines += builds(ordered)
    lines += delivery(ordered)
    lines += traffic(ordered)
    for o in failed:
        lines += ["", f"**{o.service} {o.target}**: {cell(o.message)}"]
        if o.hint:
            lines += [f"> {'hint: ' if i == 0 else ''}{line}"
                      for i, line in enumerate(o.hint.splitlines())]
    return "\n".join(lines)
