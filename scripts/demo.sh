#!/usr/bin/env bash
# The main job, on one machine: start the embedded local cloud, then release every example
# service to it (build, push, register task definitions, update ECS services and Lambda
# functions, the state machine and the S3 model files). Run it twice: the second run is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
release local up
release deploy --env local "$@"
