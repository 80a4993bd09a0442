"""A local cloud of a test module's own (its ports, its state dir), and example repositories
pointed at it. Each module uses other ports, so modules never share or disturb a cloud."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from release.local import cloud, placeholder, sandbox
from release.local.seed import Trust
from release.local.state import LocalState

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def private_cloud(tmp_path_factory: pytest.TempPathFactory, base_port: int
                  ) -> Iterator[LocalState]:
    """Start moto, the registry and the OIDC issuer on ``base_port`` .. ``base_port + 2``;
    stop them by PID afterwards."""
    state_dir = tmp_path_factory.mktemp(f"cloud-{base_port}")
    options = cloud.Options(repo_root=REPO, state_dir=state_dir, moto_port=base_port,
                            registry_port=base_port + 1, oidc_port=base_port + 2)
    state = cloud.up(options, cloud.Deps()).state
    try:
        yield state
    finally:
        cloud.down(state_dir, cloud.Deps())


def examples_repo(tmp_path: Path, state: LocalState) -> Path:
    """A fresh git copy of the examples, pointed at ``state``'s cloud, infrastructure seeded."""
    root = sandbox.make(REPO, tmp_path / "repo", aws_endpoint=state.aws_endpoint_url,
                        registry_host=state.registry_host)
    sandbox.reset_and_seed(root, state.aws_endpoint_url, Trust.of(state),
                           placeholder.maker(state))
    return root


def local_environ() -> dict[str, str]:
    """The process environment as a developer's shell has it (the local cloud's variables
    set by the test, no GitHub Actions): what `release` gets from cli.main."""
    return {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
