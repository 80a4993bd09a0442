"""Shared fixtures for end-to-end tests: the embedded local cloud, brought up once.

The session's local cloud runs from the repository root with the default state dir and
ports, and is left running at the end so the next test run (and people) reuse it.
`release local down` is tested on a second instance with its own ports and state dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from release.local import cloud
from release.local.state import LocalState, default_state_dir, find_repo_root

REPO_ROOT = find_repo_root(Path(__file__).resolve().parents[2])


def _options(**overrides: Any) -> cloud.Options:
    return cloud.Options(
        **{"repo_root": REPO_ROOT, "state_dir": default_state_dir(REPO_ROOT), **overrides}
    )


@pytest.fixture(scope="session")
def local_options() -> Callable[..., cloud.Options]:
    """``local_options(**overrides)``: Options for this repository's local cloud."""
    return _options


@pytest.fixture(scope="session")
def local_cloud() -> LocalState:
    """The running local cloud's state (started now if it was not running)."""
    return cloud.up(_options(), cloud.Deps()).state


@pytest.fixture(scope="session")
def docker_client(local_cloud: LocalState) -> Iterator[docker.DockerClient]:
    """A Docker SDK client for the local cloud's engine."""
    client = docker.DockerClient(base_url=local_cloud.docker_host, timeout=120)
    yield client
    client.close()


@pytest.fixture
def aws(local_cloud: LocalState) -> dict[str, Any]:
    """Keyword arguments for ``boto3.client(name, **aws)`` against the moto server."""
    return {
        "endpoint_url": local_cloud.aws_endpoint_url,
        "region_name": local_cloud.region,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


@pytest.fixture
def ecr_login(aws: dict[str, Any]) -> tuple[str, str]:
    """``(username, password)`` decoded from moto's ECR GetAuthorizationToken."""
    import base64

    ecr = boto3.client("ecr", **aws)
    try:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    finally:
        ecr.close()
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password
