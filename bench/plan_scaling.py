"""Item 5: `release plan` on synthetic monorepos vs the path-filter baseline, in one run.

    python bench/plan_scaling.py [--sizes 100,1000,5000] [--runs 5] [--work DIR] [--no-write]

Each size is a monorepo of that many services (bench/monorepo.py: about 100 files per
service, at most 100,000 files, shared libraries, 300 commits). With 1,000 among the sizes,
two more repositories hold the services at 1,000 and change one thing at a time: 10,000
files instead of 100,000, and 30 commits instead of 300. Repositories are generated once and
kept under --work (default /tmp/release-bench-plan), named by their parameters.

For each: record a deployed state where all but 2% of the services run HEAD's build, then
time whole processes (interpreter start included), median of --runs, the two commands taking
turns: `release plan` in reconcile mode against that state (`--deployed FILE`), and the path
filter (bench/pathfilter.py: git diff --name-only + glob matching per service). Both run with
their bytecode cached, as after `pip install` or any earlier run (the shell here sets
PYTHONDONTWRITEBYTECODE, under which every run would compile every module again): a private
PYTHONPYCACHEPREFIX under --work, warmed by an untimed run.

Rewrites the "## 5." section of bench/RESULTS.md (not with --no-write) and records the
headline figures for bench/suite.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from monorepo import cached  # noqa: E402
from results import Headline, record, replace_section  # noqa: E402

ITEM = 5
FILES_PER_SERVICE = 100
MAX_FILES = 100_000
COMMITS = 300
TIMEOUT = 300  # seconds for any one command: 5,000 services plan in a few seconds


@dataclass(frozen=True)
class Shape:
    """A synthetic monorepo's parameters."""

    services: int
    files: int
    commits: int
    dockerignore: bool = False  # a .dockerignore in every service


@dataclass(frozen=True)
class Row:
    """One repository's figures."""

    shape: Shape
    files: int  # as `git ls-files` counts them
    commits: int  # as `git rev-list --count HEAD` counts them
    planned: int
    ours: float
    base: float

    @property
    def ratio(self) -> float:
        """Our time over the path filter's."""
        return self.ours / self.base


def shapes(sizes: list[int]) -> list[Shape]:
    """The repositories to measure: each size, then (with 1,000) files and commits varied."""
    out = [Shape(n, min(n * FILES_PER_SERVICE, MAX_FILES), COMMITS) for n in sizes]
    if 1000 in sizes:
        out += [Shape(1000, 10_000, COMMITS), Shape(1000, 10_000, COMMITS // 10),
                Shape(1000, 10_000, COMMITS, dockerignore=True)]
    return out


def child_env(work: Path) -> dict[str, str]:
    """The environment of every timed process: bytecode cached in a private directory."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one run of ``argv`` and its stdout; exits with its stderr if it fails."""
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=TIMEOUT)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {done.stderr[-2000:]}")
    return took, done.stdout


def prepare(root: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """The deployed-state file and the baseline's filters file for ``root``."""
    _, everything = run([sys.executable, "-m", "release", "plan", "--env", "bench", "--all",
                         "--output", "json"], root, env)
    entries = json.loads(everything)["data"]["services"]
    rng = random.Random(1)
    stale = {e["service"] for e in rng.sample(entries, max(1, len(entries) // 50))}
    state = {e["service"]: {"build_key": "old" if e["service"] in stale else e["build_key"],
                            "commit": "0" * 40} for e in entries}
    deployed = root.parent / "deployed.json"
    deployed.write_text(json.dumps({"services": state}))
    spec = yaml.load((root / "release.yaml").read_text(), Loader=yaml.CSafeLoader)
    libraries = spec.get("libraries", {})
    filters = {}
    for name, svc in spec["services"].items():
        globs = [f"{svc['context']}/**"]
        globs += [f"{libraries[lib]['path']}/**" for lib in svc.get("uses", [])]
        filters[name] = globs
    filters_file = root.parent / "filters.yaml"
    filters_file.write_text(yaml.safe_dump(filters))
    return deployed, filters_file


def git_count(root: Path, *args: str) -> int:
    """A count git prints: files or commits."""
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                         check=True, timeout=TIMEOUT).stdout
    return int(out) if args[0] == "rev-list" else len(out.splitlines())


def measure(shape: Shape, work: Path, runs: int) -> Row:
    """Generate (or reuse) the repository and time both commands, taking turns."""
    began = time.perf_counter()
    root = cached(work, shape.services, shape.files, shape.commits,
                  dockerignore=shape.dockerignore)
    env = child_env(work)
    deployed, filters = prepare(root, env)  # also warms release's bytecode
    ours_argv = [sys.executable, "-m", "release", "plan", "--env", "bench",
                 "--deployed", str(deployed), "--output", "json"]
    base_argv = [sys.executable, str(HERE / "pathfilter.py"), str(filters), "HEAD~1"]
    run(base_argv, root, env)  # warm the baseline's bytecode too
    ours, base, planned = [], [], 0
    for _ in range(runs):
        took, out = run(ours_argv, root, env)
        ours.append(took)
        planned = len(json.loads(out)["data"]["services"])
        base.append(run(base_argv, root, env)[0])
    row = Row(shape, git_count(root, "ls-files"), git_count(root, "rev-list", "--count", "HEAD"),
              planned, statistics.median(ours), statistics.median(base))
    print(f"  {shape.services} services, {row.files} files, {row.commits} commits: "
          f"plan {row.ours:.2f} s, path filter {row.base:.2f} s "
          f"({time.perf_counter() - began:.0f} s with generation)", flush=True)
    return row


def find(rows: list[Row], services: int, files: int, commits: int = COMMITS, *,
         dockerignore: bool = False) -> Row | None:
    """The row of that shape, if measured."""
    wanted = Shape(services, files, commits, dockerignore)
    return next((r for r in rows if r.shape == wanted), None)


@dataclass(frozen=True)
class Growth:
    """How plan time changes between two rows that differ in one parameter."""

    what: str
    small: Row
    large: Row

    @property
    def factor(self) -> float:
        """How much larger the parameter is."""
        s, lg = self.small.shape, self.large.shape
        return {"services": lg.services / s.services, "files": self.large.files / self.small.files,
                "commits": self.large.commits / self.small.commits,
                ".dockerignore": 1.0}[self.what]

    @property
    def time_factor(self) -> float:
        """How much longer plan takes."""
        return self.large.ours / self.small.ours

    @property
    def per_unit_ms(self) -> float:
        """Extra milliseconds per added service (or file, or commit; or in all)."""
        added = {"services": self.large.shape.services - self.small.shape.services,
                 "files": self.large.files - self.small.files,
                 "commits": self.large.commits - self.small.commits,
                 ".dockerignore": 1}[self.what]
        return 1000 * (self.large.ours - self.small.ours) / added


def growths(rows: list[Row]) -> list[Growth]:
    """Pairs of rows that differ in exactly one parameter."""
    pairs = [("services", find(rows, 100, 10_000), find(rows, 1000, 10_000)),
             ("services", find(rows, 1000, 100_000), find(rows, 5000, 100_000)),
             ("files", find(rows, 1000, 10_000), find(rows, 1000, 100_000)),
             ("commits", find(rows, 1000, 10_000, COMMITS // 10), find(rows, 1000, 10_000)),
             (".dockerignore", find(rows, 1000, 10_000),
              find(rows, 1000, 10_000, dockerignore=True))]
    return [Growth(what, a, b) for what, a, b in pairs if a is not None and b is not None]


def headlines(rows: list[Row], grown: list[Growth]) -> list[Headline]:
    """The summary table's lines: the 1,000-service figure and the growth."""
    out = []
    main = find(rows, 1000, 100_000)
    if main is not None:
        out.append(Headline("plan, 1,000 services / 100,000 files (vs path filter)",
                            f"{main.ours:.2f} s ({main.ratio:.1f}x)", "under 1 s and 2x",
                            met=main.ours < 1.0 and main.ratio <= 2.0))
    slopes = [g.per_unit_ms for g in grown if g.what == "services"]
    flat = [g.time_factor for g in grown if g.what in ("files", "commits")]
    if len(slopes) == 2 and flat:
        linear = 0.67 <= slopes[1] / slopes[0] <= 1.5 if slopes[0] > 0 else False
        out.append(Headline(
            "plan growth: ms per service (100->1,000 | 1,000->5,000); x files, x commits",
            f"{slopes[0]:.2f} | {slopes[1]:.2f}; "
            + ", ".join(f"x{g.time_factor:.2f}" for g in grown if g.what in ("files", "commits")),
            "linear in services, flat in files and commits",
            met=linear and max(flat) <= 1.2))
    return out


def section(rows: list[Row], grown: list[Growth], runs: int, command: str,
            load: float) -> str:
    """The "## 5." section of bench/RESULTS.md."""
    table = ["| services | files | commits | planned | release plan | path filter | ratio |",
             "|---|---|---|---|---|---|---|"]
    table += [f"| {r.shape.services}{' (+ .dockerignore each)' if r.shape.dockerignore else ''} "
              f"| {r.files} | {r.commits} | {r.planned} | {r.ours:.2f} s "
              f"| {r.base:.2f} s | {r.ratio:.1f}x |" for r in rows]
    growth = [_growth_line(g) for g in grown]
    main = find(rows, 1000, 100_000)
    met = main is not None and main.ours < 1.0 and main.ratio <= 2.0
    verdict = ("" if main is None else
               f"1,000 services / {main.files} files: {main.ours:.2f} s, {main.ratio:.1f}x the "
               "path filter (target: under 1 s and at most 2x): "
               + ("met." if met else "MISSED."))
    heading = "## 5. Plan at scale vs a path filter (issues 4 and 8)" + (
        "" if main is None else f": {main.ours:.2f} s, {main.ratio:.1f}x, target "
        + ("met" if met else "not met"))
    return "\n".join([
        heading,
        "",
        f"Reproduce: `{command}` (repositories from bench/monorepo.py are generated once "
        "and kept under /tmp/release-bench-plan; the first run spends a minute or two "
        "writing them).",
        "",
        f"Whole processes, interpreter start included, median of {runs} (the two commands "
        f"take turns), measured {time.strftime('%Y-%m-%d')} on {platform.machine()} with "
        f"{os.cpu_count()} cores (load average {load:.1f} when the run began: other work "
        f"was {'running' if load > 0.5 else 'idle'}), Python {platform.python_version()}; "
        "bytecode cached for both, as after `pip install`. Each size has about "
        f"{FILES_PER_SERVICE} files per service and {MAX_FILES:,} at most, {COMMITS} commits. "
        "`release plan` is reconcile mode against a recorded "
        "deployed state (`--deployed FILE`, 2% of services stale): it validates release.yaml "
        "and the environment file against the JSON Schemas, checks every path and task "
        "definition template, keys every service from git, and compares. The path filter "
        "is bench/pathfilter.py: `git diff --name-only HEAD~1 HEAD` and fnmatch of every "
        "changed path against every service's globs; it validates nothing and reads no "
        "state.",
        "",
        *table,
        "",
        verdict,
        "",
        *(["Growth, between rows that differ in one thing:", *growth, ""] if growth else []),
        "Plan time grows with services: per service it parses and validates its YAML, "
        "stats its paths, reads its directory's tree object and hashes its keys. It reads "
        "no history (reconcile compares keys, never commits). The one step that grows with "
        "files, git's walk of the work tree (is it dirty? ~0.25 s of CPU at 100,000 files), "
        "runs in its own process while Python validates and keys the services on HEAD's "
        "tree: hidden on an idle machine; on a busy one it competes for the two cores "
        "(runs while other work ran here saw up to +0.2 s at 100,000 files).",
        "",
        "What made it fast (1,000 services / 100,000 files: 4.0 s at first; 1.11 s with the "
        "code before this round, measured as above; figures from pyinstrument, cProfile and "
        "`python -X importtime`):",
        "- valid files skip jsonschema: the compiled validator jsonschema-rs answers valid / "
        "not valid in milliseconds (it replaced a home-made schema compiler and 800 lines "
        "of generated checks), and the ~150 ms import of jsonschema happens only when a "
        "file has a problem, to word and locate it; a test compares the two verdicts on the "
        "bad-input corpus and on generated documents.",
        "- YAML: plain documents (no anchors, merge keys or odd tags) are built straight "
        "from libyaml's parse events (release/config/plain_yaml.py: 55 -> 35 ms for the "
        "1,000-service release.yaml), and the line of every field is found only when a "
        "problem needs it (the file is parsed again then, which also costs nothing for a "
        "valid file); duplicate keys, alias bombs and deep nesting still take the careful "
        "path, which words them as before.",
        "- git: each directory on the way to a service's paths is read once through one "
        "`git cat-file --batch` (it was `TREE:PATH` per path, which inflated the shared "
        "`services/` tree once per path: quadratic in services); HEAD's tree is keyed while "
        "`git status` runs (keyed again only if the tree is dirty), the walk starts before "
        "the config is read and stats files on one thread (its parallel preload took the "
        "core Python needs: 0.53 -> 0.47 s).",
        "- .dockerignore: a context with one was keyed through two git processes of its "
        "own and the Docker SDK's matcher, whose import (the whole SDK, ~0.2 s) every plan of "
        "the examples paid; its ignore file and trees now come through the same `cat-file` "
        "process and the SDK's rules are restated in release/planning/dockerignore.py "
        "(a test holds it to the SDK). 1,000 services with a .dockerignore each: 7.9 s "
        "before, under 1 s now; keys unchanged.",
        "- the rest: paths checked with os.stat instead of pathlib, templates read without "
        "pathlib, key encoders built once, the AWS modules imported only when the plan "
        "asks AWS, the schema files read without importlib.resources.",
    ])


def _growth_line(g: Growth) -> str:
    if g.what == ".dockerignore":
        return (f"- a .dockerignore in every service ({_shape(g.small)}): plan "
                f"x{g.time_factor:.2f}, {1000 * (g.large.ours - g.small.ours):+.0f} ms (the "
                "context ids are then hashes of the filtered listings of every file)")
    return (f"- {g.what} x{g.factor:.0f} ({_shape(g.small)} -> {_shape(g.large)}): plan "
            f"x{g.time_factor:.2f}, "
            + (f"{g.per_unit_ms:.2f} ms per added service" if g.what == "services" else
               f"{1000 * (g.large.ours - g.small.ours):+.0f} ms in all"))


def _shape(row: Row) -> str:
    return f"{row.shape.services} services, {row.files} files, {row.commits} commits"


def main() -> None:
    """Measure every shape; print the table; rewrite the section; record the headlines."""
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000",
                        help="service counts, comma-separated (default: 100,1000,5000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    parser.add_argument("--work", type=Path, default=Path("/tmp/release-bench-plan"),
                        help="where generated repositories are kept between runs")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave bench/RESULTS.md and bench/.results alone")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    began = time.perf_counter()
    rows = [measure(shape, args.work, args.runs) for shape in shapes(sizes)]
    grown = growths(rows)
    command = f"python bench/plan_scaling.py --sizes {args.sizes} --runs {args.runs}"
    text = section(rows, grown, args.runs, command, load)
    print(text)
    print(f"\n(item 5 took {time.perf_counter() - began:.0f} s)")
    if not args.no_write:
        replace_section(ITEM, text, legacy="## Plan at scale")
        record(ITEM, {"rows": [{"services": r.shape.services, "files": r.files,
                                "commits": r.commits, "planned": r.planned,
                                "plan_s": round(r.ours, 3), "path_filter_s": round(r.base, 3)}
                               for r in rows],
                      "growth": [{"what": g.what, "factor": round(g.factor, 2),
                                  "time_factor": round(g.time_factor, 3),
                                  "ms_per_unit": round(g.per_unit_ms, 4)} for g in grown]},
               headlines(rows, grown))


if __name__ == "__main__":
    main()
