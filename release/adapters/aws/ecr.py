"""ECR: the registry login that GetAuthorizationToken grants."""

from __future__ import annotations

import base64
from typing import Any

from release.adapters.aws.clients import explain
from release.adapters.registry import Login


def login(ecr: Any, host: str) -> Login:
    """Registry credentials for ``host`` from ECR (user ``AWS``, a 12-hour token)."""
    try:
        data = ecr.get_authorization_token()["authorizationData"][0]
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise explain(exc, "ECR login (GetAuthorizationToken)") from None
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return Login(host=host, username=username, password=password)
