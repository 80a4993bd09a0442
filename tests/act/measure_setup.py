"""Measure what the `setup` action costs a job, under act on this host (not a test).

    .venv/bin/python tests/act/measure_setup.py [--runs 5] [--installer uv|pip]

A throw-away repository holds the release tool and a workflow whose one job runs
`./actions/setup` twice and then `release --version`. Each run is a fresh job (a fresh
$RUNNER_TEMP, so the first call really installs); the uv cache (~/.cache/uv) or pip cache
stays warm between runs, as on a runner that caches it. act prints each step's duration;
this reads the two `Install release` steps: the install, and the second call, which finds
the tool installed from the same source and only puts it on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from act_runner import CHECKOUT, RUN_TIMEOUT, commit_all, copy_tool

from release.local import sandbox

WORKFLOW = f"""\
name: setup-cost
on: push
permissions:
  contents: read
jobs:
  setup:
    runs-on: ubuntu-latest
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - uses: ./actions/setup
      - uses: ./actions/setup
      - run: release --version
"""
STEP = re.compile(r"Success - Main Install release \[([0-9.]+)(ms|s|µs)\]")
UNIT = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}


def measure(runs: int, installer: str) -> tuple[list[float], list[float]]:
    """Seconds of the installing call and of the second call, per run."""
    first, second = [], []
    with tempfile.TemporaryDirectory(prefix="setup-cost-") as tmp:
        scratch = Path(tmp)
        root = scratch / "repo"
        root.mkdir()
        copy_tool(root)
        (root / ".github/workflows").mkdir(parents=True, exist_ok=True)
        for old in (root / ".github/workflows").iterdir():
            old.unlink()
        (root / ".github/workflows/setup-cost.yml").write_text(WORKFLOW)
        sandbox.git(root, "init", "-q", "-b", "main")
        commit_all(root, "setup cost")
        bin_dir = scratch / "bin"
        bin_dir.mkdir()
        if installer == "uv":
            (bin_dir / "uv").symlink_to(Path(sys.executable).with_name("uv"))
        path = [p for p in os.environ["PATH"].split(os.pathsep)
                if p and not (Path(p) / "release").exists() and not (Path(p) / "uv").exists()]
        env = {**{k: v for k, v in os.environ.items()
                  if not k.startswith(("GITHUB_", "ACTIONS_", "RUNNER_"))},
               "PATH": os.pathsep.join([str(bin_dir), *path])}
        act = Path(sys.executable).with_name("act")
        for i in range(runs):
            done = subprocess.run(
                [str(act), "push", "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
                 "--action-cache-path", str(scratch / f"cache-{i}")],
                cwd=root, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                check=False)
            found = [float(v) * UNIT[u] for v, u in STEP.findall(done.stdout + done.stderr)]
            if done.returncode != 0 or len(found) != 2:
                sys.exit(f"run {i}: act exited {done.returncode}\n{done.stdout[-3000:]}")
            first.append(found[0])
            second.append(found[1])
    return first, second


def main() -> None:
    """Print the figures for the README."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--installer", choices=("uv", "pip"), default="uv")
    args = parser.parse_args()
    first, second = measure(args.runs, args.installer)
    print(f"setup with {args.installer}, {args.runs} fresh jobs under act:")
    print(f"  install:     median {statistics.median(first):.2f}s "
          f"(min {min(first):.2f}s, max {max(first):.2f}s)")
    print(f"  second call: median {statistics.median(second) * 1000:.0f}ms "
          f"(min {min(second) * 1000:.0f}ms, max {max(second) * 1000:.0f}ms)")


if __name__ == "__main__":
    main()
