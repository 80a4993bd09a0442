#!/usr/bin/env bash
# The main job, on one machine: start the embedded local cloud, then release every example
# service to it (build, push, register task definitions, roll the ECS services out as real
# containers, update the Lambda functions, the state machine and the S3 model files, and
# set the detector's container app on the local Azure to its new image), and ask each
# service's URL for its page. Run it twice: the second run is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
release local up
# What a job gets from GitHub: the OIDC token request (the local issuer's), here with the
# certificate the local Azure serves (REQUESTS_CA_BUNDLE). Azure logins need both.
eval "$(release local status | grep '^export ')"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
release deploy --env local "$@" | tee "$out"
# Each service with a port answers on 127.0.0.1: ECS services from their healthy tasks, the
# detector's container app from its revision's replicas.
{ grep -E '^[a-z0-9-]+: http://127\.0\.0\.1:[0-9]+$' "$out" || true; } | sort -u |
while read -r service url; do
  python3 - "${service%:}" "$url" <<'PY'
import sys, urllib.request
service, url = sys.argv[1:]
with urllib.request.urlopen(url, timeout=10) as answer:
    print(f"{service}: {url}: HTTP {answer.status} {answer.reason}")
PY
done
