"""`release plan` on a synthetic monorepo vs the path-filter baseline, in one run.

    python bench/plan_scaling.py [--sizes 100,1000,5000] [--runs 5] [--work DIR]

For each size: generate a monorepo (bench/monorepo.py: ~100 files per service, shared
libraries, 300 commits), record a deployed state where all but 2% of services run HEAD's
build, then time whole processes (interpreter start included), median of --runs:
`release plan` in reconcile mode against that recorded state, and the path-filter baseline
(bench/pathfilter.py: git diff --name-only + glob matching per service).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from monorepo import generate  # noqa: E402


def timed(argv: list[str], cwd: Path, runs: int) -> tuple[float, str]:
    """Median wall time of ``argv`` over ``runs`` runs, and its last stdout."""
    times, out = [], ""
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=600)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed: {done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(times), out


def prepare(root: Path, services: int) -> tuple[Path, Path]:
    """The deployed-state file and the baseline's filters file for ``root``."""
    everything = subprocess.run([sys.executable, "-m", "release", "plan", "--env", "bench",
                                 "--all", "--output", "json"], cwd=root, check=True,
                                capture_output=True, text=True).stdout
    entries = json.loads(everything)["data"]["services"]
    rng = random.Random(1)
    stale = {e["service"] for e in rng.sample(entries, max(1, services // 50))}
    state = {e["service"]: {"build_key": "old" if e["service"] in stale else e["build_key"],
                            "commit": "0" * 40} for e in entries}
    deployed = root.parent / "deployed.json"
    deployed.write_text(json.dumps({"services": state}))
    spec = yaml.safe_load((root / "release.yaml").read_text())
    libraries = spec.get("libraries", {})
    filters = {}
    for name, svc in spec["services"].items():
        globs = [f"{svc['context']}/**"]
        globs += [f"{libraries[lib]['path']}/**" for lib in svc.get("uses", [])]
        filters[name] = globs
    filters_file = root.parent / "filters.yaml"
    filters_file.write_text(yaml.safe_dump(filters))
    return deployed, filters_file


def main() -> None:
    """Measure every size; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="release-plan-bench-"))
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        root = work / f"mono-{size}" / "repo"
        if not root.exists():
            generate(root, size, size * 100, 300)
        files = len(subprocess.run(["git", "ls-files"], cwd=root, capture_output=True,
                                   text=True, check=True).stdout.splitlines())
        deployed, filters = prepare(root, size)
        ours, out = timed([sys.executable, "-m", "release", "plan", "--env", "bench",
                           "--deployed", str(deployed), "--output", "json"], root, args.runs)
        planned = len(json.loads(out)["data"]["services"])
        base, _ = timed([sys.executable, str(HERE / "pathfilter.py"), str(filters), "HEAD~1"],
                        root, args.runs)
        rows.append((size, files, planned, ours, base))
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}; median of {args.runs} runs\n")
    print("| services | files | planned | release plan | path filter | ratio |")
    print("|---|---|---|---|---|---|")
    for size, files, planned, ours, base in rows:
        print(f"| {size} | {files} | {planned} | {ours:.2f} s | {base:.2f} s | "
              f"{ours / base:.1f}x |")


if __name__ == "__main__":
    main()
