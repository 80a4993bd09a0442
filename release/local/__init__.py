"""The embedded local cloud: Docker engine, OCI registry, moto and an OIDC issuer on 127.0.0.1.

Other commands reach it through the state file ``up`` writes::

    from release.local import load_state, state_dir_for
    state = load_state(state_dir_for(os.environ))   # one cloud per machine
    state.aws_endpoint_url      # http://127.0.0.1:5000 (moto)
    state.registry_host         # 127.0.0.1:5001
    state.registry_username, state.registry_password   # what ECR GetAuthorizationToken returns
    state.docker_host           # unix:///var/run/docker.sock
    state.environment()         # AWS_ENDPOINT_URL, ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from release.local.state import (
    LocalState,
    default_state_dir,
    find_repo_root,
    load_state,
    read_state,
)


def state_dir_for(env: Mapping[str, str]) -> Path:
    """The machine's local cloud state directory (the same from any repository)."""
    return default_state_dir(env)


__all__ = ["LocalState", "find_repo_root", "load_state", "read_state", "state_dir_for"]
