"""The benchmark suite of issue 8 (and 14): every figure in one run, bench/RESULTS.md rewritten.

    bash scripts/bench.sh [--only 3,4] [--stop-on-failure] [--note TEXT]

(scripts/bench.sh installs what the items need, then runs this script with its arguments:
``python bench/suite.py [--only 3,4] ...`` once they are installed.)

Runs each item's script in a fixed order (1 and 2 are one script), each rewriting its own
section of bench/RESULTS.md and recording its headline figures in bench/.results/ (see
bench/results.py) under this run's id; then rewrites the top of bench/RESULTS.md: the
machine, the date, the command, the total and per-item times, and a summary table of every
figure with its target. With --only, the other items' rows of that table (and of the times)
are kept as the last run left them. Not part of the tests: it takes minutes and starts engines.

A script that fails (non-zero exit) makes the suite exit 1 after the remaining items ran
(or at once with --stop-on-failure), naming the item and the end of its log
(bench/.results/item-N.log).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from results import RESULTS, RUN_ENV, STORE, Headline, Recorded, load, replace_top  # noqa: E402

BUDGET_SECONDS = 900.0
ITEM_TIMEOUT = 900.0
INSTALL = "bash scripts/bench.sh"  # installs what the items need (the bench extra), then runs


@dataclass(frozen=True)
class Item:
    """One script of the suite and the issue items it measures."""

    numbers: tuple[int, ...]
    title: str
    argv: tuple[str, ...]  # the script (relative to the repository) and its arguments
    tools: tuple[str, ...] = ()  # console scripts it runs (the bench extra's)

    @property
    def label(self) -> str:
        """``1-2`` or ``3``."""
        return "-".join(str(n) for n in self.numbers)


ITEMS = (
    Item((1, 2), "deploy of 1/10/30 ECS services + 10 Lambdas vs ecs-deploy and the AWS CLI; "
         "no-op release of 30 services", ("bench/deploy_api_calls.py", "--suite"), ("ecs", "aws")),
    Item((3,), "promotion to a second environment vs building again",
         ("bench/promotion.py", "--runs", "1")),
    Item((4,), "start-up of `release --version` and `release plan`",
         ("bench/startup.py", "--runs", "5", "--alt-runs", "3"), ("aws", "ecs")),
    Item((5,), "plan scaling to 100, 1,000 and 5,000 services",
         ("bench/plan_scaling.py", "--sizes", "100,1000,5000", "--runs", "2")),
    Item((6,), "install cost into a fresh virtual environment (uv, pip)",
         ("bench/install_cost.py", "--runs", "3", "--pip-runs", "1")),
    Item((7,), "builds on a fresh runner: registry cache vs none, plain `docker build`; "
         "concurrent builds", ("bench/build_cache.py",)),
)


@dataclass(frozen=True)
class Ran:
    """One script's run: its exit code and wall time."""

    item: Item
    code: int
    seconds: float
    log: Path


def selected(only: str | None) -> list[Item]:
    """The items to run, in the suite's order; ``only`` is ``3,4``-style."""
    if not only:
        return list(ITEMS)
    try:
        wanted = {int(n) for n in only.split(",") if n.strip()}
    except ValueError:
        raise SystemExit(f"--only takes item numbers such as 3,4, not {only!r}") from None
    unknown = wanted - {n for item in ITEMS for n in item.numbers}
    if unknown:
        known = sorted(n for item in ITEMS for n in item.numbers)
        raise SystemExit(f"--only: no item {', '.join(map(str, sorted(unknown)))} "
                         f"(items {known[0]}-{known[-1]})")
    return [item for item in ITEMS if wanted & set(item.numbers)]


def tools_path() -> str:
    """PATH for the scripts: this interpreter's directory (the venv's console scripts) first."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def missing_tools(items: Sequence[Item], path: str) -> list[str]:
    """One line per item whose console scripts are not on ``path``."""
    return [f"item {item.label} needs {', '.join(absent)} (the bench extra)"
            for item in items
            if (absent := [t for t in item.tools if shutil.which(t, path=path) is None])]


def preflight(items: Sequence[Item]) -> None:
    """Fail before measuring anything if a script is missing or lacks an option we pass,
    or a tool it runs is not installed (naming the command that installs them)."""
    problems = missing_tools(items, tools_path())
    if problems:
        raise SystemExit("the suite cannot run:\n  " + "\n  ".join(problems)
                         + f"\ninstall what the benchmarks need and run them: {INSTALL}"
                         + (f" --only {','.join(i.label.replace('-', ',') for i in items)}"
                            if len(items) < len(ITEMS) else ""))
    for item in items:
        script = ROOT / item.argv[0]
        if not script.is_file():
            problems.append(f"item {item.label}: {item.argv[0]} does not exist")
            continue
        done = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            problems.append(f"item {item.label}: {item.argv[0]} --help failed: "
                            f"{done.stderr.strip()[-500:]}")
            continue
        missing = [a for a in item.argv[1:] if a.startswith("--") and a not in done.stdout]
        if missing:
            problems.append(f"item {item.label}: {item.argv[0]} has no option "
                            f"{', '.join(missing)}")
    if problems:
        raise SystemExit("the suite cannot run:\n  " + "\n  ".join(problems))


def run_item(item: Item, run_id: str) -> Ran:
    """Run one script, its output shown with the item's prefix and kept in a log."""
    STORE.mkdir(parents=True, exist_ok=True)
    log = STORE / f"item-{item.label}.log"
    env = {**os.environ, RUN_ENV: run_id, "PYTHONUNBUFFERED": "1", "PATH": tools_path()}
    print(f"\n=== item {item.label}: {item.title}\n    python {' '.join(item.argv)}", flush=True)
    began = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, *item.argv], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # SIGTERM, by PID, when the script overruns: the suite's scripts stop what they
        # started on their way out.
        watchdog = threading.Timer(ITEM_TIMEOUT, proc.terminate)
        watchdog.start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                print(f"[{item.label}] {line}", end="", flush=True)
            code = proc.wait(timeout=120)
        finally:
            watchdog.cancel()
        if time.perf_counter() - began >= ITEM_TIMEOUT:
            out.write(f"\nsuite: stopped after {ITEM_TIMEOUT:.0f} s\n")
            code = code or -1
    seconds = time.perf_counter() - began
    state = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"=== item {item.label}: {state} in {seconds:.1f} s", flush=True)
    return Ran(item, code, seconds, log)


def machine() -> str:
    """CPU model, cores, RAM, kernel, Python, Docker."""
    cpu = _first(Path("/proc/cpuinfo"), r"^model name\s*:\s*(.+)$") or platform.processor()
    mem_kb = _first(Path("/proc/meminfo"), r"^MemTotal:\s*(\d+) kB$")
    ram = f"{int(mem_kb) / 1024 / 1024:.0f} GiB RAM" if mem_kb else "RAM unknown"
    try:
        docker = subprocess.run(["dockerd", "--version"], capture_output=True, text=True,
                                timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        docker = "dockerd not found"
    return (f"{cpu or 'CPU unknown'}, {os.cpu_count()} cores, {ram}, "
            f"{platform.system()} {platform.release()} ({platform.machine()}), "
            f"{platform.python_implementation()} {platform.python_version()}, {docker}")


def _first(path: Path, pattern: str) -> str | None:
    try:
        found = re.search(pattern, path.read_text(), re.MULTILINE)
    except OSError:
        return None
    return found.group(1).strip() if found else None


def _verdict(headline: Headline) -> str:
    if headline.met is None:
        return "-"
    return "met" if headline.met else "**missed**"


@dataclass(frozen=True)
class LastTop:
    """What the top of RESULTS.md held before this run: its summary rows and its times,
    item by item, each "this run" made "earlier (<date>)"."""

    rows: dict[int, list[str]]
    dates: dict[int, str]  # item -> the date its kept rows were measured (YYYY-MM-DD)
    times: dict[str, str]  # item label -> its row of the times table
    sections: dict[int, str]  # item -> its section's text


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def last_top(path: Path = RESULTS) -> LastTop:
    """Read the summary and times tables (and the sections) RESULTS.md holds now."""
    text = path.read_text() if path.is_file() else ""
    first = re.search(r"^## ", text, re.MULTILINE)
    head = text[:first.start()] if first else text
    last = re.search(r"^Last run: (\d{4}-\d{2}-\d{2})", head, re.MULTILINE)
    last_date = last.group(1) if last else "date unknown"
    rows: dict[int, list[str]] = {}
    dates: dict[int, str] = {}
    times: dict[str, str] = {}
    table = None
    for line in head.splitlines():
        if line.startswith("| item | figure |"):
            table = "summary"
        elif line.startswith("| item | command |"):
            table = "times"
        elif not line.startswith("|"):
            table = None
        elif table == "summary" and (found := re.match(r"^\| (\d+) \|", line)):
            # The figure and value cells may hold '|' themselves: only the last cell (when)
            # is rewritten, found from the right.
            before, when, _ = line.rsplit("|", 2)
            when = when.strip()
            if when == "this run" or when.startswith("this run:"):
                when = f"earlier ({last_date})" + when[len("this run"):]
            number = int(found.group(1))
            rows.setdefault(number, []).append(f"{before}| {when} |")
            dated = _DATE.search(when)
            dates[number] = dated.group(0) if dated else ""
        elif table == "times" and (found := re.match(r"^\| ([\d-]+) \|", line)):
            kept = line if "(earlier run" in line else \
                line.rstrip().removesuffix("|").rstrip() + f" (earlier run, {last_date}) |"
            times[found.group(1)] = kept
    sections = {int(m.group(1)): m.group(0) for m in re.finditer(
        r"^## (\d+)\. .*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)}
    return LastTop(rows, dates, times, sections)


def summary_rows(runs: dict[str, Ran], run_id: str, store: Path = STORE,
                 last: LastTop | None = None) -> list[str]:
    """One row per headline figure, item by item; older or missing figures said so.

    An item not run now keeps the rows RESULTS.md showed for it (``last``), unless it was
    measured since on its own (a record in ``store`` newer than those rows, whose date its
    section carries: the script rewrote it); with neither, it says "not run".
    """
    last = last or LastTop({}, {}, {}, {})
    rows = []
    for item in ITEMS:
        ran = runs.get(item.label)
        for number in item.numbers:
            now = load(number, run_id, store=store)
            earlier = None if now is not None else load(number, store=store)
            if ran is None and number in last.rows and not _newer(earlier, number, last):
                rows.extend(last.rows[number])
                continue
            recorded: Recorded | None = now or earlier
            if ran is not None and ran.code != 0:
                when = f"this run: FAILED (exit {ran.code})"
            elif now is not None:
                when = "this run"
            elif earlier is not None:
                when = f"earlier ({earlier.measured[:10]})"
            else:
                when = "this run" if ran is not None else "not run"
            if recorded is None or not recorded.headlines:
                rows.append(f"| {number} | no figures recorded (see its section) | | | | "
                            f"{when} |")
                continue
            rows.extend(f"| {number} | {h.figure} | {h.value} | {h.target or '-'} | "
                        f"{_verdict(h)} | {when} |" for h in recorded.headlines)
    return rows


def _newer(recorded: Recorded | None, number: int, last: LastTop) -> bool:
    """True when ``recorded`` came after the kept rows of ``number`` and wrote its section."""
    if recorded is None:
        return False
    day = recorded.measured[:10]
    section = last.sections.get(number, "")
    # Items 1 and 2 share one script and its date in section 1.
    shared = last.sections.get(number - 1, "") if number == 2 else ""
    return day > last.dates.get(number, "") and (day in section or day in shared)


@dataclass(frozen=True)
class SuiteRun:
    """One run of the suite, for the top of RESULTS.md."""

    runs: tuple[Ran, ...]
    run_id: str
    command: str
    total: float
    when: str
    note: str | None = None
    last: LastTop | None = None  # RESULTS.md's top before this run (for --only)


def top(suite: SuiteRun) -> str:
    """The title, the machine, the command, the times and the summary table."""
    runs, total = suite.runs, suite.total
    last = suite.last or LastTop({}, {}, {}, {})
    by_label = {r.item.label: r for r in runs}
    timings = "\n".join(
        f"| {r.item.label} | `python {' '.join(r.item.argv)}` | {r.seconds:.0f} s | "
        f"{'ok' if r.code == 0 else f'**failed (exit {r.code})**'} |"
        if (r := by_label.get(item.label)) is not None else last.times[item.label]
        for item in ITEMS if item.label in by_label or item.label in last.times)
    minutes = f"{BUDGET_SECONDS / 60:.0f}-minute"
    complete = len(runs) == len(ITEMS) and all(r.code == 0 for r in runs)
    budget = (("within" if total < BUDGET_SECONDS else "**over**") + f" the {minutes} budget"
              if complete else f"not a complete run: the {minutes} budget is for all items; "
              "the other items' rows are from earlier runs")
    return f"""# Benchmark results

Issue 8's benchmark suite: `{INSTALL}` from the repository root (it installs what the
benchmarks need, then runs `python bench/suite.py` with its arguments, e.g. `--only 3,4`); it
is not part of the tests. Each item's script can also be run on its own with the command in
its section; every figure below comes from a real run.

Last run: {suite.when}, `{suite.command}`, {total / 60:.1f} min in total ({budget}).
{"Machine" if complete else "Machine of this run"}: {machine()}.\
{f"{chr(10)}Note: {suite.note}" if suite.note else ""}

| item | figure | measured | target | verdict | when |
|---|---|---|---|---|---|
{chr(10).join(summary_rows(by_label, suite.run_id, last=last))}

Time per script:

| item | command | wall time | result |
|---|---|---|---|
{timings}
"""


def main() -> int:
    """Run the items, then rewrite the top of bench/RESULTS.md; 1 if any item failed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="N,M", help="run only these items (e.g. 3,4)")
    parser.add_argument("--note", help="a line for the top of RESULTS.md (e.g. 'the machine "
                        "was shared with other work')")
    parser.add_argument("--stop-on-failure", action="store_true",
                        help="stop at the first script that fails (default: run the rest)")
    args = parser.parse_args()
    items = selected(args.only)
    preflight(items)
    run_id = uuid.uuid4().hex
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    began = time.perf_counter()
    runs: list[Ran] = []
    for item in items:
        ran = run_item(item, run_id)
        runs.append(ran)
        if ran.code != 0 and args.stop_on_failure:
            break
    total = time.perf_counter() - began
    command = "python bench/suite.py" + (f" --only {args.only}" if args.only else "")
    replace_top(top(SuiteRun(tuple(runs), run_id, command, total, when, args.note,
                             last=last_top())))
    print("\n=== suite: per item")
    for ran in runs:
        print(f"  item {ran.item.label:>3}: {ran.seconds:6.1f} s  "
              f"{'ok' if ran.code == 0 else f'FAILED (exit {ran.code})'}")
    print(f"  total    : {total:6.1f} s ({'within' if total < BUDGET_SECONDS else 'OVER'} "
          f"the {BUDGET_SECONDS / 60:.0f}-minute budget)")
    failed = [r for r in runs if r.code != 0]
    for ran in failed:
        tail = ran.log.read_text().splitlines()[-15:]
        print(f"\nFAILED: item {ran.item.label} ({' '.join(ran.item.argv)}) exited {ran.code}; "
              f"last lines of {ran.log.relative_to(ROOT)}:\n    " + "\n    ".join(tail),
              file=sys.stderr)
    if len(runs) < len(items):
        skipped = ", ".join(i.label for i in items[len(runs):])
        print(f"not run after the failure: item {skipped}", file=sys.stderr)
    print(f"\nbench/RESULTS.md rewritten ({len(runs)} of {len(items)} scripts ran)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
