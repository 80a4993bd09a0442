#!/usr/bin/env bash
# Prepare a fresh machine: system packages and a virtual environment with release installed.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in docker:docker.io docker-registry:docker-registry busybox:busybox-static \
            htpasswd:apache2-utils git:git ssh:openssh-client sshd:openssh-server; do
  # sshd lives in /usr/sbin, outside a normal user's PATH
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] ||
    need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# uv is pinned: the lock tests compare uv's own output (uv.lock, the exported requirements),
# which a newer uv may word differently.
UV_VERSION=0.13.9
if [ "$(.venv/bin/python -m uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
.venv/bin/python -m uv pip install -q --python .venv/bin/python -e ".[test]"
