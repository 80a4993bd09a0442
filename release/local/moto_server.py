"""AWS APIs from moto in server mode, and the ECR password the local registry accepts.

Facts from moto 5.x's source that the rest of the local cloud builds on:

- ``MOTO_ECS_SERVICE_RUNNING`` is a *count*, not a flag: a service created while it is N
  reports ``runningCount`` N and its deployment ``rolloutState`` COMPLETED when N >= its
  ``desiredCount``; ``update_service(desiredCount=M)`` sets the service's runningCount to M.
- ECR ``GetAuthorizationToken`` returns base64 ``AWS:<registryId>-auth-token``, so the
  password is ``<account>-auth-token`` (``123456789012-auth-token`` by default).
- Lambda image functions: ``MOTO_LAMBDA_STUB_ECR`` (default true) accepts any
  ``Code.ImageUri`` without looking it up in moto's ECR. Docker is only used by Invoke;
  ``up`` turns that off through ``/moto-api/config`` so Invoke answers without docker.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any

DEFAULT_ACCOUNT = "123456789012"
# moto accepts any credentials; these never reach AWS.
_FAKE_KEY = "testing"


def argv(host: str, port: int) -> list[str]:
    """``python -m moto.server`` on ``host:port``."""
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def environment(
    base: Mapping[str, str], region: str, account_id: str, ecs_running: int
) -> dict[str, str]:
    """The child's environment: ECS services report ``ecs_running`` running tasks."""
    return {
        **base,
        "MOTO_ECS_SERVICE_RUNNING": str(ecs_running),
        "MOTO_ACCOUNT_ID": account_id,
        "AWS_DEFAULT_REGION": region,
    }


def configure(endpoint: str) -> None:
    """Make Lambda Invoke answer without starting containers."""
    body = json.dumps({"lambda": {"use_docker": False}, "batch": {"use_docker": False}})
    request = urllib.request.Request(  # noqa: S310 - endpoint is our own http://127.0.0.1
        f"{endpoint}/moto-api/config",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def is_moto(endpoint: str) -> bool:
    """True when ``endpoint`` answers moto's own API (so it is a moto server)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=2) as response:  # noqa: S310
            return isinstance(json.loads(response.read()), dict)
    except (OSError, ValueError):
        return False


def ecr_password(endpoint: str, region: str) -> tuple[str, str]:
    """``(username, password)`` from ECR ``GetAuthorizationToken`` against ``endpoint``."""
    import botocore.config  # deferred: the CLI imports this module for every command
    import botocore.session

    ecr: Any = botocore.session.Session().create_client(
        "ecr",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=_FAKE_KEY,
        aws_secret_access_key=_FAKE_KEY,
        config=botocore.config.Config(
            connect_timeout=5, read_timeout=10, retries={"mode": "standard"}
        ),
    )
    try:
        data = ecr.get_authorization_token()["authorizationData"][0]
    finally:
        ecr.close()
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password
