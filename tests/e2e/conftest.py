"""Shared fixtures for end-to-end tests: the embedded local cloud, brought up once.

The session's local cloud has its own ports and state dir (never a person's demo cloud)
and is stopped by PID when the session ends. `release local down` is also tested on a
second instance with its own ports and state dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from release.local import cloud
from release.local.state import LocalState, find_repo_root

REPO_ROOT = find_repo_root(Path(__file__).resolve().parents[2])


# Ports of their own, so the tests neither disturb nor depend on a local cloud that a person
# started with `release local up` (5000-5002).
PORTS = {"moto_port": 18000, "registry_port": 18001, "oidc_port": 18002}


@pytest.fixture(scope="session")
def local_options(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., cloud.Options]:
    """``local_options(**overrides)``: Options for the tests' local cloud."""
    state_dir = tmp_path_factory.mktemp("local-cloud")

    def options(**overrides: Any) -> cloud.Options:
        return cloud.Options(**{"repo_root": REPO_ROOT, "state_dir": state_dir, **PORTS,
                                **overrides})

    return options


@pytest.fixture(scope="session")
def local_cloud(local_options: Callable[..., cloud.Options]) -> Iterator[LocalState]:
    """The tests' local cloud, started for the session and stopped by PID at its end."""
    options = local_options()
    state = cloud.up(options, cloud.Deps()).state
    yield state
    cloud.down(options.state_dir, cloud.Deps())


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
