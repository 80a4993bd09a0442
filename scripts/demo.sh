#!/usr/bin/env bash
# The main job, on one machine: start the embedded local cloud, then release every example
# service to it (build, push, register task definitions, roll the ECS services out as real
# containers, update the Lambda functions, the state machine and the S3 model files), and
# ask each ECS service's URL for its page. Run it twice: the second run is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
release local up
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
release deploy --env local "$@" | tee "$out"
# Each service with a port answers on 127.0.0.1 from its healthy tasks.
{ grep -Eo 'http://127\.0\.0\.1:[0-9]+' "$out" || true; } | sort -u | while read -r url; do
  python3 - "$url" <<'PY'
import sys, urllib.request
url = sys.argv[1]
with urllib.request.urlopen(url, timeout=10) as answer:
    print(f"{url}: HTTP {answer.status} {answer.reason}")
PY
done
