"""Figures and Markdown of bench/deploy_api_calls.py: issue 8 items 1 and 2, and issue 5.

Each tool's calls come from the counting proxy, per client tag: ``rel-N`` (release, size
N), ``ecsd-NAME`` (one ecs-deploy process, or one AWS CLI Lambda chain of that column),
``cliN-NAME`` (one AWS CLI chain of the size-N matrix), ``noop-...`` (item 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alternatives import Timed, wall
from ecs_proxy import is_mutating

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ITEM1 = "## 1. Deploy N ECS services vs ecs-deploy and the AWS CLI"
ITEM2 = "## 2. No-op release"
ISSUE5 = "## Issue 5: 30 ECS services with 10 s rollouts vs fabfuel/ecs-deploy"
LEGACY = "## API calls for 30 ECS services at once vs fabfuel/ecs-deploy (issue 5)"


@dataclass
class Measured:
    """Everything one run measured."""

    sizes: tuple[int, ...]
    lambdas: int
    rollout_seconds: float
    release: dict[int, Any] = field(default_factory=dict)  # size -> ReleaseRun
    ecs_deploy: list[Timed] = field(default_factory=list)  # the loop, in order
    cli: dict[int, list[Timed]] = field(default_factory=dict)  # size -> the matrix
    noop_release: Any = None
    noop_ecs_deploy: list[Timed] = field(default_factory=list)
    calls: dict[str, Counter[str]] = field(default_factory=dict)  # client tag -> calls
    seconds: float = 0.0  # the whole run
    long_rollout_seconds: float = 0.0  # the calls again at this rollout (0: not run)
    long_release: Any = None  # ReleaseRun: a new build of the largest set
    long_ecs_deploy: list[Timed] = field(default_factory=list)  # its twins, at once

    def of(self, *apps: str) -> Counter[str]:
        """The calls of these client tags, added up."""
        total: Counter[str] = Counter()
        for app in apps:
            total.update(self.calls.get(app, Counter()))
        return total


@dataclass(frozen=True)
class Row:
    """One tool at one size: wall time and calls."""

    seconds: float
    calls: Counter[str]

    @property
    def total(self) -> int:
        """Every AWS API call."""
        return sum(self.calls.values())

    @property
    def mutating(self) -> int:
        """Calls that change something."""
        return sum(n for op, n in self.calls.items() if is_mutating(op))


def release_row(m: Measured, n: int) -> Row:
    """release at size ``n``: one process."""
    run = m.release[n]
    return Row(run.seconds, m.of(run.app))


def ecs_deploy_row(m: Measured, n: int) -> Row:
    """ecs-deploy at size ``n``: the first ``n`` processes of the loop (all, with the
    Lambda chains, at the largest size)."""
    timed = m.ecs_deploy if n == max(m.sizes) else m.ecs_deploy[:n]
    return Row(wall(timed), m.of(*(t.app for t in timed)))


def cli_row(m: Measured, n: int) -> Row | None:
    """The AWS CLI matrix of size ``n``."""
    timed = m.cli.get(n)
    return Row(wall(timed), m.of(*(t.app for t in timed))) if timed else None


def _x(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.1f}x" if ours else "-"


def machine() -> str:
    """One line about where this ran."""
    return (f"{os.cpu_count()} cores, {platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("ecs-deploy", "awscli", "moto"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def size_table(m: Measured) -> str:
    """Wall time and calls per size, each alternative as a ratio to release."""
    cli = bool(m.cli)
    head = ("| ECS services | release | ecs-deploy loop | "
            + ("AWS CLI matrix | " if cli else "")
            + "release calls | ecs-deploy calls | " + ("AWS CLI calls |" if cli else ""))
    line = "|---" * (7 if cli else 5) + "|"
    rows = []
    for n in m.sizes:
        ours, loop, matrix = release_row(m, n), ecs_deploy_row(m, n), cli_row(m, n)
        label = f"{n} + {m.lambdas} Lambda" if n == max(m.sizes) and m.lambdas else str(n)
        cells = [label, f"{ours.seconds:.1f} s",
                 f"{loop.seconds:.1f} s ({_x(loop.seconds, ours.seconds)})"]
        if cli:
            cells.append(f"{matrix.seconds:.1f} s ({_x(matrix.seconds, ours.seconds)})"
                         if matrix else "-")
        cells += [str(ours.total), f"{loop.total} ({_x(loop.total, ours.total)})"]
        if cli:
            cells.append(f"{matrix.total} ({_x(matrix.total, ours.total)})" if matrix else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, line, *rows])


def ecs_only(m: Measured, n: int) -> tuple[Row, Row]:
    """release and the ecs-deploy loop at size ``n``, ECS services only (issue 5's target)."""
    ours = release_row(m, n)
    loop = m.ecs_deploy[:n]
    mine = Counter({op: c for op, c in ours.calls.items() if not op.startswith("lambda:")})
    return (Row(ours.seconds, mine), Row(wall(loop), m.of(*(t.app for t in loop))))


def long_rows(m: Measured) -> tuple[Row, Row] | None:
    """release and ecs-deploy at the longer rollout (ECS services only), when it ran."""
    if m.long_release is None:
        return None
    return (Row(m.long_release.seconds, m.of(m.long_release.app)),
            Row(wall(m.long_ecs_deploy), m.of(*(t.app for t in m.long_ecs_deploy))))


def long_section(m: Measured, big: int) -> str:
    """The calls at the longer rollout, by operation."""
    rows = long_rows(m)
    if rows is None:
        return ""
    ours, theirs = rows
    ops = sorted(set(ours.calls) | set(theirs.calls))
    table = "\n".join(f"| {op}{' (mutating)' if is_mutating(op) else ''} | "
                      f"{ours.calls.get(op, 0)} | {theirs.calls.get(op, 0)} |" for op in ops)
    d = m.long_rollout_seconds
    return f"""
API calls at {d:g} s rollouts ({big} ECS services, no Lambda): a new build of every service
(one commit changes their shared build context), built first (`release build`, no ECS
call), then released by one `release deploy` while ecs-deploy ran once for each twin
service with the same new image, every process at once. Each tool polls its own rollouts
on its own clock whatever else runs, so these are the calls of separate runs (CPU
contention can only make ecs-deploy poll less: on 2026-11-22, at 10 s rollouts, its
processes at once made 570 calls for 30 services, exactly what issue 5's sequential loop
made). Only calls are compared here; the
loop's wall time at this rollout, about {big} x ({d:g} s + its start), would not fit the
suite's 10 minutes. {d:g} s is still far shorter than a real Fargate rollout (provisioning,
image pull, start and health checks of the new tasks, then draining the old ones: a minute
or more), where ecs-deploy's polls grow with every second and release's stay at one
DescribeServices per 10 services every 15 s.

| | release deploy | ecs-deploy (once per service) | ecs-deploy / release |
|---|---|---|---|
| AWS API calls | {ours.total} | {theirs.total} | {_x(theirs.total, ours.total)} |
| calls per service | {ours.total / big:.1f} | {theirs.total / big:.1f} | |

| operation | release | ecs-deploy |
|---|---|---|
{table}
"""


def operations_table(m: Measured, n: int) -> str:
    """Calls by operation at size ``n``, for every tool."""
    columns = [("release", release_row(m, n).calls), ("ecs-deploy", ecs_deploy_row(m, n).calls)]
    matrix = cli_row(m, n)
    if matrix:
        columns.append(("AWS CLI", matrix.calls))
    ops = sorted(set().union(*(c for _, c in columns)))
    lines = ["| operation | " + " | ".join(name for name, _ in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {op}{' (mutating)' if is_mutating(op) else ''} | "
              + " | ".join(str(c.get(op, 0)) for _, c in columns) + " |" for op in ops]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "not met"


def item1(m: Measured, command: str) -> tuple[str, dict[str, Any], list[Any]]:
    """Item 1's section, figures and headlines."""
    big = max(m.sizes)
    ours, loop = ecs_only(m, big)
    calls_x, wall_x = loop.total / max(ours.total, 1), loop.seconds / ours.seconds
    d = m.rollout_seconds
    matrix = cli_row(m, big)
    per_e = loop.total / big
    longer = long_rows(m)
    judged_x = longer[1].total / max(longer[0].total, 1) if longer else calls_x
    judged_d = m.long_rollout_seconds if longer else d
    met = "target met" if judged_x >= 5 and wall_x >= 5 else (
        "wall time target met, calls target not met" if wall_x >= 5 else "target not met")
    calls = f"{judged_x:.1f}x fewer calls at {judged_d:g} s rollouts ({calls_x:.1f}x at {d:g} s)"
    text = f"""{ITEM1}: {big} services {wall_x:.1f}x faster, {calls}; {met}

Reproduce: `{command}` (run by `python bench/suite.py`; it took {m.seconds / 60:.1f} minutes).
Measured {dt.date.today().isoformat()} on {machine()};
{_versions()}.
Every ECS rollout takes {d:g} s (simulated, the same for every tool); each process's wall
time includes its interpreter start (with compiled bytecode, as after any pip install).
Ratios are theirs / release's.

{size_table(m)}

The targets at {big} services (ECS calls only, release's Lambda calls left out;
wall time of release's whole run, Lambda functions included): ecs-deploy takes
{wall_x:.1f}x the wall time ({_verdict(wall_x >= 5)}: target 5x) and makes {judged_x:.1f}x the calls
at {judged_d:g} s rollouts ({_verdict(judged_x >= 5)}: target 5x; {calls_x:.1f}x at the {d:g} s
rollouts of the table). The ratio of calls depends on the rollout's length: release makes
about 3 calls per service (read what runs, register, update) and polls all services
together, 10 per DescribeServices; ecs-deploy makes about 9 per service plus one per
second of rollout. Real Fargate rollouts take minutes.
{long_section(m, big)}
Calls by operation, {big} services{f' + {m.lambdas} Lambda functions' if m.lambdas else ''}:

{operations_table(m, big)}

How each tool ran:
- release: `release deploy --env local SERVICE...` with its defaults, one process per size
  (plan, build and push the images from one shared context, register, roll out every
  service at once on one batched poller, look up the URLs). Build phases:
  {", ".join(f"{n}: {r.build_seconds:.1f} s" for n, r in sorted(m.release.items()))}.
- ecs-deploy: `ecs deploy bench SERVICE --image app REPO@DIGEST --timeout 600`, one
  process per service, one after the other (a shell loop), then the Lambda functions with
  the AWS CLI sequence below, one after the other. One loop over {big} services ran; the
  rows for fewer services are its first processes (a loop over 10 is the first 10
  iterations of a loop over 30). {per_e:.1f} calls per service at a {d:g} s rollout: it
  polls once a second, so it makes about one more call per service per second of rollout.
- AWS CLI: per service `aws ecs register-task-definition --cli-input-json
  file://task.json`, `aws ecs update-service --force-new-deployment`, `aws ecs wait
  services-stable`; per function `aws lambda update-function-code`, `aws lambda wait
  function-updated`, `aws lambda publish-version`. Run as a GitHub Actions matrix would:
  every chain at once (a sequential loop takes over 15 s per service, as the waiter polls
  every 15 s: {big} services would take over {big * 15 / 60:.1f} minutes). All chains
  share this machine's {os.cpu_count()} cores, where a matrix gives each job a runner of its
  own: its wall time here is CPU-bound ({_cli_note(matrix)}).
- All tools get the same images (the digests release pushed), identical services and
  task definitions, and reach moto through the counting proxy (bench/ecs_proxy.py), which
  tells them apart by AWS_SDK_UA_APP_ID and simulates every rollout identically: for
  {d:g} s after UpdateService the new deployment is PRIMARY IN_PROGRESS next to the old one
  ACTIVE with its task running; then COMPLETED with a RUNNING Fargate task of the new
  revision (with an ENI, as ECS reports it). After the run every service and function runs
  its new image (checked in moto directly).
- The table's rollout is {d:g} s so that the suite stays under 10 minutes: ecs-deploy's loop
  costs about {big} x ({d:g} s + its start). Real Fargate rollouts take minutes, where
  ecs-deploy's polls dominate and the call ratio grows with the rollout time.

What is not equal, and which way it leans:
- release does more: it builds and pushes the images, reads what runs to plan (and to
  refuse a downgrade), tags what it registers, and looks up the services' URLs (one
  ListTasks, DescribeTasks and DescribeNetworkInterfaces for the cluster; the ENIs do not
  exist in moto, so no URL comes back; in AWS the count is the same). The AWS CLI
  sequence reads nothing and checks nothing: `wait services-stable` also reports success
  after a circuit-breaker rollback, and Lambda's alias is not moved.
- moto answers in milliseconds; AWS latency and throttling are not simulated.
"""
    figures = {"rollout_seconds": d, "sizes": list(m.sizes), "lambdas": m.lambdas}
    for n in m.sizes:
        r, e, c = release_row(m, n), ecs_deploy_row(m, n), cli_row(m, n)
        figures[str(n)] = {"release_s": round(r.seconds, 2), "release_calls": r.total,
                           "ecs_deploy_s": round(e.seconds, 2), "ecs_deploy_calls": e.total,
                           **({"aws_cli_s": round(c.seconds, 2), "aws_cli_calls": c.total}
                              if c else {})}
    figures["ecs_only_calls_ratio"] = round(calls_x, 2)
    figures["wall_ratio"] = round(wall_x, 2)
    if longer:
        figures["long"] = {"rollout_seconds": m.long_rollout_seconds,
                           "release_calls": longer[0].total, "release_s": round(
                               longer[0].seconds, 2),
                           "ecs_deploy_calls": longer[1].total, "ratio": round(judged_x, 2)}
    from results import Headline

    headlines = [
        Headline(f"deploy {big} services: ecs-deploy wall time / release's ({d:g} s rollouts)",
                 f"{wall_x:.1f}x", "at least 5x", wall_x >= 5),
        Headline(f"deploy {big} services: ecs-deploy API calls / release's "
                 f"({judged_d:g} s rollouts)", f"{judged_x:.1f}x", "at least 5x",
                 judged_x >= 5),
    ]
    if longer:
        headlines.append(Headline(f"deploy {big} services: ecs-deploy API calls / release's "
                                  f"({d:g} s rollouts)", f"{calls_x:.1f}x", "-", None))
    return text, figures, headlines


def _cli_note(matrix: Row | None) -> str:
    return "see the wall times above" if matrix is None else (
        f"{matrix.seconds:.0f} s for the largest matrix")


def item2(m: Measured, command: str) -> tuple[str, dict[str, Any], list[Any]]:
    """Item 2's section, figures and headlines."""
    big = max(m.sizes)
    ours = Row(m.noop_release.seconds, m.of(m.noop_release.app))
    # The alternatives' no-op is item 1's work again: their ECS services of the largest size.
    mine = m.ecs_deploy[:big]
    loop = Row(wall(mine), m.of(*(t.app for t in mine)))
    chains = [t for t in m.cli.get(big, []) if not t.name.startswith("local-")]  # no Lambda
    matrix = Row(wall(chains), m.of(*(t.app for t in chains))) if chains else None
    again = Row(wall(m.noop_ecs_deploy), m.of(*(t.app for t in m.noop_ecs_deploy)))
    again_name = m.noop_ecs_deploy[0].name if m.noop_ecs_deploy else "-"

    tools = [ours, loop] + ([matrix] if matrix else [])

    def cells(f: Any) -> str:
        return " | ".join(f(r) for r in tools)

    revisions = [r.calls.get("ecs:RegisterTaskDefinition", 0) for r in tools]
    head = "| | release deploy (again) | ecs-deploy loop (item 1) |" + (
        " AWS CLI matrix (item 1) |" if matrix else "")
    line = "|---|---|---|" + ("---|" if matrix else "")
    ops = sorted(set(ours.calls) | set(loop.calls) | (set(matrix.calls) if matrix else set()))
    by_op = "\n".join(f"| {op}{' (mutating)' if is_mutating(op) else ''} | "
                      + cells(lambda r, op=op: str(r.calls.get(op, 0))) + " |" for op in ops)
    met_time, met_calls = ours.seconds < 2.0, ours.mutating == 0
    verdict = "target met" if met_time and met_calls else "target not met"
    heading = f"{ITEM2} of {big} services: {ours.seconds:.2f} s, {ours.mutating} mutating calls"
    text = f"""{heading}; {verdict}

Reproduce: `{command}` (run by `python bench/suite.py`); measured in the same run as
item 1, right after it, on the {big} ECS services item 1 deployed (nothing changed since).

{head}
{line}
| wall time (interpreter start included) | {cells(lambda r: f"{r.seconds:.2f} s")} |
| AWS API calls | {cells(lambda r: str(r.total))} |
| mutating calls | {cells(lambda r: str(r.mutating))} |
| new task definition revisions | {" | ".join(str(n) for n in revisions)} |
| rollouts started | {cells(lambda r: str(r.calls.get("ecs:UpdateService", 0)))} |

Targets: release's no-op under 2 s ({_verdict(met_time)}), zero mutating calls
({_verdict(met_calls)}).

Calls by operation:

| operation | release | ecs-deploy |{" AWS CLI |" if matrix else ""}
|---|---|---|{"---|" if matrix else ""}
{by_op}

How it ran: release is the same `release deploy --env local SERVICE...` as item 1, a
second time: it plans (build keys from git, one registry HEAD per image, one
DescribeServices per 10 services, one DescribeTaskDefinition per service), finds every
service already on its build and stops. The alternatives read nothing that could tell
them nothing changed, so a no-op costs them what item 1 cost: their columns are item 1's
runs on their {big} ECS services (ecs-deploy's loop; the AWS CLI matrix's service chains,
which shared the machine with its Lambda chains). To show it, ecs-deploy ran again in this
run on {again_name}, unchanged since item 1: {again.total} calls, {again.mutating} of them
mutating, {again.calls.get("ecs:RegisterTaskDefinition", 0)} new revision and
{again.calls.get("ecs:UpdateService", 0)} rollout, in {again.seconds:.1f} s. The AWS CLI
sequence has no condition at all (register, update, wait).
"""
    figures = {"release_s": round(ours.seconds, 3), "release_calls": ours.total,
               "release_mutating": ours.mutating, "ecs_deploy_again_calls": again.total,
               "ecs_deploy_again_mutating": again.mutating,
               "ecs_deploy_s": round(loop.seconds, 2),
               "ecs_deploy_calls": loop.total, "ecs_deploy_mutating": loop.mutating,
               **({"aws_cli_s": round(matrix.seconds, 2), "aws_cli_calls": matrix.total,
                   "aws_cli_mutating": matrix.mutating} if matrix else {})}
    from results import Headline

    headlines = [Headline(f"no-op release of {big} services", f"{ours.seconds:.2f} s",
                          "under 2 s", met_time),
                 Headline("no-op release: mutating calls", str(ours.mutating), "0",
                          met_calls)]
    return text, figures, headlines


def issue5(m: Measured, command: str) -> str:
    """The issue-5 section: one size, ecs-deploy's loop."""
    big = max(m.sizes)
    ours, loop = ecs_only(m, big)
    calls_x, wall_x = loop.total / max(ours.total, 1), loop.seconds / ours.seconds
    calls = f"{calls_x:.1f}x ({_verdict(calls_x >= 5)}: target 5x)"
    walls = f"{wall_x:.1f}x ({_verdict(wall_x >= 5)}: target 5x)"
    verdict = "target met" if calls_x >= 5 and wall_x >= 5 else "target not met"
    return f"""{ISSUE5}: {calls_x:.1f}x fewer calls, {wall_x:.1f}x faster; {verdict}

Reproduce: `{command}` (not part of the suite: it takes about 7 minutes).
Measured {dt.date.today().isoformat()} on {machine()};
{_versions()}.
{big} identical ECS Fargate services per tool, desiredCount 1, every rollout
{m.rollout_seconds:g} s (simulated identically for both by bench/ecs_proxy.py, as in item
1). release: one `release deploy` process (interpreter start, plan, builds and pushes of
{big} images included); ecs-deploy: one process per service, one after the other, as
teams script it.

| | release deploy | ecs-deploy loop | ecs-deploy / release |
|---|---|---|---|
| AWS API calls | {ours.total} | {loop.total} | {calls} |
| wall time | {ours.seconds:.1f} s | {loop.seconds:.1f} s | {walls} |
| release's build phase | {m.release[big].build_seconds:.1f} s | | |

{operations_table(m, big)}
"""


def publish(args: argparse.Namespace, m: Measured, *, write: bool) -> None:
    """Print the sections; write them into RESULTS.md and record the figures."""
    command = "python bench/deploy_api_calls.py " + ("--issue5" if args.issue5 else "--suite")
    if args.issue5:
        text = issue5(m, command)
        print("\n" + text)
        if write:
            _replace(ISSUE5, text)
        return
    from results import record, replace_section

    text1, figures1, headlines1 = item1(m, command)
    print("\n" + text1)
    sections = [(1, text1, figures1, headlines1)]
    if m.noop_release is not None:
        text2, figures2, headlines2 = item2(m, command)
        print("\n" + text2)
        sections.append((2, text2, figures2, headlines2))
    if write:
        for item, text, figures, headlines in sections:
            replace_section(item, text, legacy=LEGACY if item == 1 else None)
            record(item, {**figures, "run_seconds": round(m.seconds)}, headlines)
        print(f"written to {RESULTS} (whole run {m.seconds:.0f} s)")


def _replace(heading: str, text: str) -> None:
    """Replace (or append) the section that starts with ``heading``."""
    content = RESULTS.read_text()
    start = content.find(heading)
    if start == -1:
        RESULTS.write_text(content.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
        return
    end = content.find("\n## ", start + len(heading))
    end = len(content) if end == -1 else end + 1
    RESULTS.write_text(content[:start] + text.rstrip("\n") + "\n\n" + content[end:])
