#!/usr/bin/env bash
# Install what the embedded local cloud needs on a fresh Debian machine (as root):
# the Debian packages `release local up` would otherwise install itself, and the
# Python extras. Safe to run again: apt runs only when a command is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v busybox >/dev/null || missing+=(busybox-static)
command -v htpasswd >/dev/null || missing+=(apache2-utils)

if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
fi

python -m pip install --quiet -e '.[local]'
