"""Item 4: start-up of `release --version` and `release plan`, next to the alternatives'.

    python bench/startup.py [--runs 10] [--alt-runs 5] [--no-write]

Whole processes (interpreter start included), median of --runs (--alt-runs for the slower
alternatives) after one untimed run:
`release --version`, `release plan` of the examples (a git copy, planned against a
recorded deployed state where one service is stale, so no cloud is asked), and, in the
same run, `aws --version` (the AWS CLI) and `ecs --version` (fabfuel/ecs-deploy), plus
`python -c pass` as the floor every Python CLI pays. Then `python -X importtime` of both
release commands: fails (exit 1, after writing the section) if boto3, botocore, docker or
azure is imported by either.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from results import Headline, record, replace_section, stop_on_sigterm  # noqa: E402

from release.local import sandbox  # noqa: E402

ITEM = 4
TARGET_MS = 150.0
DEFERRED = ("boto3", "botocore", "docker", "azure")
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)$")


@dataclass(frozen=True)
class Timing:
    """Wall times of one command line."""

    label: str
    seconds: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """The median, in milliseconds."""
        return statistics.median(self.seconds) * 1000

    @property
    def spread_ms(self) -> str:
        """Fastest and slowest run, in milliseconds."""
        return f"{min(self.seconds) * 1000:.0f}-{max(self.seconds) * 1000:.0f}"


@dataclass(frozen=True)
class Imports:
    """What ``python -X importtime`` reported for one command."""

    modules: tuple[str, ...]
    total_us: int  # the sum of the top-level imports' cumulative times

    def deferred_found(self) -> list[str]:
        """Modules that should have stayed unimported but were imported."""
        return sorted({m for m in self.modules if m.split(".")[0] in DEFERRED})


def tool(name: str) -> str:
    """A console script beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found (pip install -e '.[bench]')")
    return found


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; fail loudly on a non-zero exit."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def timed(label: str, argv: list[str], cwd: Path, runs: int) -> Timing:
    """Wall times of ``runs`` runs of ``argv`` after an untimed one (warm file cache)."""
    run(argv, cwd)
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        run(argv, cwd)
        seconds.append(time.perf_counter() - began)
    return Timing(label, tuple(seconds))


def parse_importtime(stderr: str) -> Imports:
    """The modules and top-level import time in ``python -X importtime`` output."""
    modules, total = [], 0
    for line in stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if not found:
            continue
        modules.append(found.group(4))
        if len(found.group(3)) == 1:  # a top-level import: its cumulative time counts once
            total += int(found.group(2))
    return Imports(tuple(modules), total)


def imports(script: str, args: list[str], cwd: Path) -> Imports:
    """The modules ``python -X importtime script args`` imports."""
    found = parse_importtime(run([sys.executable, "-X", "importtime", script, *args], cwd).stderr)
    if not found.modules:
        raise SystemExit(f"no -X importtime output from {script} {' '.join(args)}")
    return found


def plan_repo(where: Path) -> tuple[Path, Path]:
    """A git copy of the examples and a deployed-state file where one service is stale."""
    root = sandbox.make(ROOT, where / "repo", aws_endpoint="http://127.0.0.1:9",
                        registry_host="127.0.0.1:9", unique_builds=False)
    everything = run([tool("release"), "plan", "--env", "local", "--all", "--output", "json"],
                     root).stdout
    entries = json.loads(everything)["data"]["services"]
    state = {e["service"]: {"build_key": "stale" if i == 0 else e["build_key"],
                            "commit": "0" * 40} for i, e in enumerate(entries)}
    deployed = where / "deployed.json"
    deployed.write_text(json.dumps({"services": state}))
    return root, deployed


def version_of(argv: list[str]) -> str:
    """The first line a ``--version`` prints."""
    done = run(argv, ROOT)
    return (done.stdout or done.stderr).strip().splitlines()[0]


@dataclass(frozen=True)
class Measured:
    """Everything the section shows."""

    runs: int
    alt_runs: int
    timings: tuple[Timing, ...]
    version_imports: Imports
    plan_imports: Imports
    planned: int
    services: int
    versions: tuple[str, ...]


def measure(runs: int, alt_runs: int) -> Measured:
    """Time every command and read the imports of release's two."""
    release, aws, ecs = tool("release"), tool("aws"), tool("ecs")
    with tempfile.TemporaryDirectory(prefix="release-bench-startup-") as tmp:
        root, deployed = plan_repo(Path(tmp))
        plan_args = ["plan", "--env", "local", "--deployed", str(deployed), "--output", "json"]
        plan = json.loads(run([release, *plan_args], root).stdout)["data"]
        planned, services = len(plan["services"]), len(plan["services"]) + len(plan["unchanged"])
        timings = (
            timed("`python -c pass` (the interpreter alone)", [sys.executable, "-c", "pass"],
                  root, runs),
            timed("`release --version`", [release, "--version"], root, runs),
            timed(f"`release plan` (the examples, {services} services)", [release, *plan_args],
                  root, runs),
            timed("`aws --version` (AWS CLI)", [aws, "--version"], root, alt_runs),
            timed("`ecs --version` (fabfuel/ecs-deploy)", [ecs, "--version"], root, alt_runs),
        )
        version_imports = imports(release, ["--version"], root)
        plan_imports = imports(release, plan_args, root)
    versions = (version_of([release, "--version"]), version_of([aws, "--version"]),
                version_of([ecs, "--version"]))
    return Measured(runs, alt_runs, timings, version_imports, plan_imports, planned, services,
                    versions)


def section(m: Measured) -> str:
    """The Markdown section for bench/RESULTS.md."""
    _floor, version, plan, aws, ecs = m.timings
    met = version.median_ms < TARGET_MS
    found = {"--version": m.version_imports.deferred_found(),
             "plan": m.plan_imports.deferred_found()}
    clean = not any(found.values())
    verdict = "target met" if met and clean else "target not met"
    rows = "\n".join(
        f"| {t.label} | {t.median_ms:.0f} ms | {t.spread_ms} ms | "
        f"{t.median_ms / version.median_ms:.1f}x |" for t in m.timings)

    def deferred(name: str) -> str:
        return ("none" if not found[name] else
                "**" + ", ".join(sorted({x.split(".")[0] for x in found[name]})) + "**")

    evidence = "\n".join([
        f"| `release --version` | {len(m.version_imports.modules)} | "
        f"{m.version_imports.total_us / 1000:.0f} ms | {deferred('--version')} |",
        f"| `release plan` | {len(m.plan_imports.modules)} | "
        f"{m.plan_imports.total_us / 1000:.0f} ms | {deferred('plan')} |"])
    offenders = "" if clean else (
        "\n**Deferred modules were imported** (the bench exits 1): "
        + "; ".join(f"`{cmd}`: {', '.join(mods[:6])}{' ...' if len(mods) > 6 else ''}"
                    for cmd, mods in found.items() if mods) + "\n")
    return f"""## {ITEM}. Start-up: `release --version` and `release plan`: {verdict}

Reproduce: `python bench/startup.py --runs {m.runs} --alt-runs {m.alt_runs}`. Measured
{dt.date.today().isoformat()}; whole processes (interpreter start included), median of {m.runs}
runs ({m.alt_runs} for `aws` and `ecs`) after one untimed run;
{"; ".join(m.versions)}.

| command | median | fastest-slowest | / `release --version` |
|---|---|---|---|
{rows}

Target: `release --version` under {TARGET_MS:.0f} ms: {version.median_ms:.0f} ms, \
{"met" if met else "missed"}. `release plan` plans the examples ({m.planned} of \
{m.services} services stale) against a recorded deployed state (`--deployed FILE`), so it \
asks no cloud: the start-up a planning job pays before its first AWS call. The AWS CLI \
takes {aws.median_ms / version.median_ms:.0f}x and ecs-deploy \
{ecs.median_ms / version.median_ms:.0f}x the time of `release --version`, \
{aws.median_ms / plan.median_ms:.1f}x and {ecs.median_ms / plan.median_ms:.1f}x that of a \
whole `release plan`.

`python -X importtime` of the same commands (modules imported, the sum of the top-level
imports' cumulative times, and which of {", ".join(DEFERRED)} were imported: none must be):

| command | modules | import time | {"/".join(DEFERRED)} |
|---|---|---|---|
{evidence}
{offenders}"""


def main() -> None:
    """Measure, write the section and the figures; exit 1 if a deferred module loaded."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--alt-runs", type=int, default=5,
                        help="runs of `aws --version` and `ecs --version` (default 5)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the section, do not write bench/RESULTS.md")
    args = parser.parse_args()
    stop_on_sigterm()
    m = measure(args.runs, args.alt_runs)
    floor, version, plan, aws, ecs = m.timings
    found = sorted(set(m.version_imports.deferred_found()) | set(m.plan_imports.deferred_found()))
    text = section(m)
    print(text)
    if not args.no_write:
        replace_section(ITEM, text)
        record(ITEM, {"runs": args.runs, "alt_runs": args.alt_runs, "python_ms": floor.median_ms,
                      "version_ms": version.median_ms, "plan_ms": plan.median_ms,
                      "aws_version_ms": aws.median_ms, "ecs_version_ms": ecs.median_ms,
                      "version_modules": len(m.version_imports.modules),
                      "plan_modules": len(m.plan_imports.modules),
                      "deferred_imported": found},
               [Headline("`release --version` start-up", f"{version.median_ms:.0f} ms",
                         f"under {TARGET_MS:.0f} ms", version.median_ms < TARGET_MS),
                Headline("`release plan` start-up (examples, no cloud)",
                         f"{plan.median_ms:.0f} ms (aws --version: {aws.median_ms:.0f} ms)"),
                Headline("boto3/botocore/docker/azure imported by --version and plan",
                         ", ".join(sorted({x.split(".")[0] for x in found})) or "none",
                         "none", not found)])
    if found:
        raise SystemExit(f"FAILED: deferred modules imported: {', '.join(found[:10])}")


if __name__ == "__main__":
    main()
