#!/usr/bin/env bash
# The test command: static checks, then every test layer (unit, adapters, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff" >&2
ruff check release tests bench
echo "== mypy --strict" >&2
mypy
echo "== release validate (the examples)" >&2
release validate >/dev/null
echo "== pytest" >&2
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
