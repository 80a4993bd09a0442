#!/usr/bin/env bash
# Install the `release` package of the repository this file is in into a virtual environment
# under $RUNNER_TEMP and put it on PATH. Once per job: a second call (another release action
# of the same commit) finds the same source already installed and only puts it on PATH.
# Uses uv when it is on PATH (seconds with a warm cache), else python -m venv and pip.
# Jobs that call this may hold an OIDC token (id-token: write), so nothing is installed
# that a lock does not name with its hash: the dependencies from requirements.lock.txt
# (exported from uv.lock), the build backend from requirements-build.lock.txt, both with
# --require-hashes and as wheels only; then release itself with no dependencies, no build
# isolation and no index (a new release on PyPI, or a changed file on it, never runs here).
set -euo pipefail

if [[ -z "${RUNNER_TEMP:-}" || -z "${GITHUB_PATH:-}" ]]; then
  echo "::error title=release setup::RUNNER_TEMP or GITHUB_PATH is not set%0Ahint: run this as a step of a GitHub Actions job"
  exit 1
fi
source_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
locks=(actions/setup/requirements.lock.txt actions/setup/requirements-build.lock.txt)
venv="$RUNNER_TEMP/release-venv"
python=${RELEASE_PYTHON:-python3}
for lock in "${locks[@]}"; do
  if [[ ! -f "$source_dir/$lock" ]]; then
    echo "::error title=release setup::$lock is missing from $source_dir%0Ahint: the action installs only what its locks name; use a checkout of the whole release repository"
    exit 1
  fi
done

# The commit of the tool, for `release --version`: the checkout's HEAD when the source is a
# git work tree, else the commit SHA the action was used at (RELEASE_ACTION_REF, from
# github.action_ref), else unknown. Written into the copy that is built (release/_commit.txt).
commit=""
if [[ "$(git -C "$source_dir" rev-parse --show-toplevel 2>/dev/null || true)" == "$source_dir" ]]; then
  commit=$(git -C "$source_dir" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null || true)
fi
if [[ ! "$commit" =~ ^[0-9a-f]{40}$ ]]; then
  commit=""
  if [[ "${RELEASE_ACTION_REF:-}" =~ ^[0-9a-f]{40}$ ]]; then commit=$RELEASE_ACTION_REF; fi
fi

# What an install is made from: this checkout's path and commit, its packaged files and the
# locks (name, size, time).
fingerprint=$(
  cd "$source_dir"
  { echo "$source_dir $commit"; find pyproject.toml README.md release "${locks[@]}" -type f \
      -not -name '*.pyc' -printf '%p %s %T@\n' | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1
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
  rm -f "$RUNNER_TEMP/release-source/release/_commit.txt"
  if [[ -n "$commit" ]]; then echo "$commit" > "$RUNNER_TEMP/release-source/release/_commit.txt"; fi
  # Every file a lock names, by its hash: a requirement without one fails the install.
  # Wheels only: building an sdist would run its setup code with unpinned build tools.
  lock_args=()
  for lock in "${locks[@]}"; do lock_args+=(-r "$source_dir/$lock"); done
  started=$SECONDS
  if command -v uv >/dev/null 2>&1; then
    uv venv --quiet --python "$python" "$venv"
    uv pip install --quiet --python "$venv/bin/python" --require-hashes --no-build \
      "${lock_args[@]}"
    # The copy's files are new (cp without -p), so uv builds it afresh: a cached wheel of
    # another checkout with the same version number is never reused.
    uv pip install --quiet --python "$venv/bin/python" --no-deps --no-build-isolation \
      --no-index "$RUNNER_TEMP/release-source"
    installer=uv
  else
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
      --only-binary :all: "${lock_args[@]}"
    # --check-build-dependencies: a setuptools older than pyproject.toml asks for fails here.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation --check-build-dependencies --no-index "$RUNNER_TEMP/release-source"
    installer=pip
  fi
  rm -rf "$RUNNER_TEMP/release-source"
  echo "$fingerprint" > "$marker"
  echo "release installed from $source_dir with $installer in $((SECONDS - started))s"
fi

echo "$venv/bin" >> "$GITHUB_PATH"
# `release 0.2.0 (0123456789ab)` or `release 0.2.0 (unknown commit)`
reported=$("$venv/bin/release" --version)
echo "$reported"
version=${reported#release }
version=${version%% *}
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "version=$version" >> "$GITHUB_OUTPUT"
  echo "commit=$commit" >> "$GITHUB_OUTPUT"
fi
