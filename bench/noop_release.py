"""First release vs no-op release of the examples, on the embedded local cloud, in one run.

    python bench/noop_release.py [--runs 3]

Starts the local cloud if needed (`release local up`), releases a fresh copy of the
examples (every image built), then releases it again unchanged, timing each
`release deploy` as a whole process (interpreter start included). The second run must
build nothing and change nothing. Resets the local moto server's state.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from release.local import sandbox
from release.local.state import default_state_dir, load_state

ROOT = Path(__file__).resolve().parents[1]


def deploy(root: Path) -> tuple[float, list[dict[str, object]]]:
    """Run one release; return its wall time and results."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "release", "deploy", "--env", "local",
                           "--root", str(root), "--output", "json"],
                          capture_output=True, text=True, check=False, timeout=900)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"release deploy failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)["data"]["results"]


def main() -> None:
    """Measure and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "release", "local", "up"], check=True, cwd=ROOT,
                   capture_output=True, timeout=900)
    state = load_state(default_state_dir(ROOT))
    first, noop = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
            root = sandbox.make(ROOT, Path(tmp) / "repo", aws_endpoint=state.aws_endpoint_url,
                                registry_host=state.registry_host)
            sandbox.reset_and_seed(root, state.aws_endpoint_url)
            seconds, results = deploy(root)
            assert all(r["built"] or not r["digest"] for r in results)
            first.append(seconds)
            seconds, results = deploy(root)
            changed = [r for r in results
                       if r["built"] or r["registered"] or r["updated"]]
            assert not changed, f"no-op release changed something: {changed}"
            noop.append(seconds)
    targets = len(results)
    f, n = statistics.median(first), statistics.median(noop)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, runs: {args.runs} (medians)\n")
    print("| release of the examples | wall time | builds | changes |")
    print("|---|---|---|---|")
    print(f"| first (every image built, {targets} targets deployed) | {f:.2f} s | 7 | {targets} |")
    print(f"| no-op (same commit again) | {n:.2f} s | 0 | 0 |")
    print(f"\nno-op / first = {n / f:.2f}")


if __name__ == "__main__":
    main()
