#!/usr/bin/env bash
# The benchmark command: install what the benchmarks need, then run the suite.
#   bash scripts/bench.sh                # every item, rewrites bench/RESULTS.md
#   bash scripts/bench.sh --only 3,4     # some items (any bench/suite.py argument)
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Item 7 debootstraps its Python base image (once; kept under ~/.cache/release-bench).
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "bench: installing debootstrap" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
# The alternatives the benchmarks compare against (ecs-deploy, the AWS CLI) and a profiler:
# the bench extra, beside the test extra setup.sh installed.
.venv/bin/python -m uv pip install -q --python .venv/bin/python -e ".[test,bench]"

export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python bench/suite.py "$@"
