"""The one place AWS clients are made: standard retries, explicit timeouts, endpoint overrides."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from release.adapters.aws.common import CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT, explain
from release.config import destinations
from release.config.model import AwsAccount

__all__ = ["CONNECT_TIMEOUT", "LOCAL_CREDENTIALS", "MAX_ATTEMPTS", "READ_TIMEOUT", "AwsClients",
           "explain"]

# moto accepts any signature; a local endpoint needs some credentials to sign with, and
# these name themselves so nobody mistakes them for real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local-cloud", "aws_secret_access_key": "local-cloud"}


@dataclass
class AwsClients:
    """Lazily made, shared clients for one account and region (botocore clients are thread-safe).

    Every client comes from ONE botocore session: its first client pays for loading the
    endpoint and model data, the next ones reuse the session's loader and caches (a client
    from a second session would pay again). Under GitHub OIDC the STS client of the
    exchange comes from the same session.
    ``session`` may be passed in: a botocore Session, or a boto3 Session (its botocore
    session is used). ``environ`` is the process environment the command line passed in:
    a job that offers GitHub OIDC (``ACTIONS_ID_TOKEN_REQUEST_URL``) assumes the role with
    its token; otherwise botocore's own credential chain is used.
    """

    account: AwsAccount
    session: Any = None
    environ: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def _session(self) -> Any:
        if self.session is None and self.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
            self.session = _web_identity(self.account, self.environ)
        if self.session is None:
            # deferred: `release --version`, `validate` and `plan --deployed` need no botocore
            import botocore.session

            session = botocore.session.Session()
            if self.account.endpoint_url and session.get_credentials() is None:
                session.set_credentials(LOCAL_CREDENTIALS["aws_access_key_id"],
                                        LOCAL_CREDENTIALS["aws_secret_access_key"])
            self.session = session
        return self.session

    def client(self, name: str) -> Any:
        """The client for service ``name`` (``ecs``, ``lambda``, ...), made once."""
        with self._lock:
            if name not in self._clients:
                from botocore.config import Config

                destinations.aws_account(self.account.endpoint_url)  # before any credential
                config = Config(
                    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                    max_pool_connections=64,  # deploy rolls out up to 64 services at once
                )
                self._clients[name] = self._session().create_client(
                    name, region_name=self.account.region,
                    endpoint_url=self.account.endpoint_url, config=config,
                )
            return self._clients[name]

    def invoke_client(self, read_timeout: float) -> Any:
        """A Lambda client for Invoke: ONE attempt (an invocation is not idempotent: a retry
        would run the function again) and a read timeout past the function's own."""
        key = f"lambda invoke {read_timeout:g}"
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                destinations.aws_account(self.account.endpoint_url)  # before any credential
                config = Config(retries={"mode": "standard", "max_attempts": 1},
                                connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout)
                self._clients[key] = self._session().create_client(
                    "lambda", region_name=self.account.region,
                    endpoint_url=self.account.endpoint_url, config=config)
            return self._clients[key]

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _web_identity(account: AwsAccount, environ: Mapping[str, str]) -> Any:
    """A botocore session whose credentials come from GitHub OIDC and renew themselves
    before they expire, so an hour-long deploy does not fail midway. Every secret is masked
    first."""
    from release.adapters import github_masks, oidc
    from release.adapters.aws.web_identity import Refresh, web_identity_session

    destinations.token_origin([account.endpoint_url], environ.get(oidc.REQUEST_URL))
    source = oidc.TokenSource.from_environ(environ)
    github = environ.get("GITHUB_ACTIONS") == "true"

    def token() -> str:
        value = source(oidc.AWS_AUDIENCE)
        if github:
            github_masks.mask(value)
        return value

    def masked(credentials: Any) -> None:
        if github:
            github_masks.mask(*credentials.secrets)

    return web_identity_session(account, token, Refresh(environ=environ, on_credentials=masked))
