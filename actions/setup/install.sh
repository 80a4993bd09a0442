#!/usr/bin/env bash
# Install the `release` package of the repository this file is in into a virtual environment
# under $RUNNER_TEMP and put it on PATH. Once per job: a second call (another release action
# of the same commit) finds the same source already installed and only puts it on PATH.
# Uses uv when it is on PATH (seconds with a warm cache), else python -m venv and pip.
set -euo pipefail

if [[ -z "${RUNNER_TEMP:-}" || -z "${GITHUB_PATH:-}" ]]; then
  echo "::error title=release setup::RUNNER_TEMP or GITHUB_PATH is not set%0Ahint: run this as a step of a GitHub Actions job"
  exit 1
fi
source_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
venv="$RUNNER_TEMP/release-venv"
python=${RELEASE_PYTHON:-python3}

# What an install is made from: this checkout's path and its packaged files (name, size, time).
fingerprint=$(
  cd "$source_dir"
  { echo "$source_dir"; find pyproject.toml README.md release -type f -not -name '*.pyc' \
      -printf '%p %s %T@\n' | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1
)
marker="$venv/.release-source"

if [[ -x "$venv/bin/release" && -f "$marker" && "$(<"$marker")" == "$fingerprint" ]]; then
  echo "release is already installed from $source_dir"
else
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "::error title=release setup::the python input names no Python 3.11 or newer%0Ahint: add actions/setup-python (python-version: '3.12') before this step, or set the python input"
    exit 1
  fi
  rm -rf "$venv" "$RUNNER_TEMP/release-source"
  # Build from a copy: the build writes build/ and *.egg-info, which must not appear in the
  # caller's work tree (untracked files there would change the build keys).
  mkdir -p "$RUNNER_TEMP/release-source"
  cp -R "$source_dir/pyproject.toml" "$source_dir/README.md" "$source_dir/release" \
    "$RUNNER_TEMP/release-source/"
  started=$SECONDS
  if command -v uv >/dev/null 2>&1; then
    uv venv --quiet --python "$python" "$venv"
    # The copy's files are new (cp without -p), so uv builds it afresh: a cached wheel of
    # another checkout with the same version number is never reused.
    uv pip install --quiet --python "$venv/bin/python" "$RUNNER_TEMP/release-source"
    installer=uv
  else
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "$RUNNER_TEMP/release-source"
    installer=pip
  fi
  rm -rf "$RUNNER_TEMP/release-source"
  echo "$fingerprint" > "$marker"
  echo "release installed from $source_dir with $installer in $((SECONDS - started))s"
fi

echo "$venv/bin" >> "$GITHUB_PATH"
version=$("$venv/bin/release" --version)
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "version=${version#release }" >> "$GITHUB_OUTPUT"
fi
