"""Credentials that outlive a long job: re-run the OIDC exchange before they expire.

botocore's own ``RefreshableCredentials`` does the timing and locking: once fewer than
``refresh_minutes`` remain it calls us for a fresh OIDC token and a new
AssumeRoleWithWebIdentity, so a deploy that waits an hour does not fail midway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from release.adapters.aws import sts
from release.config.model import AwsAccount

METHOD = "release-web-identity"
DEFAULT_REFRESH_MINUTES = 15
MANDATORY_REFRESH_MINUTES = 5


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Refresh:
    """How credentials are renewed; the clock is passed in so tests need not wait an hour."""

    refresh_minutes: int = DEFAULT_REFRESH_MINUTES
    duration: int = sts.DEFAULT_DURATION
    clock: Callable[[], datetime] = _utc_now
    environ: Mapping[str, str] = field(default_factory=dict)
    where: str = "the environment file"
    on_credentials: Callable[[sts.Credentials], None] = lambda _c: None  # e.g. mask them


def refreshable(fetch: Callable[[], sts.Credentials], refresh: Refresh) -> Any:
    """botocore ``RefreshableCredentials`` that call ``fetch`` when close to expiry."""
    from botocore.credentials import RefreshableCredentials

    def metadata() -> dict[str, str]:
        got = fetch()
        refresh.on_credentials(got)
        return {"access_key": got.access_key_id, "secret_key": got.secret_access_key,
                "token": got.session_token, "expiry_time": got.expiration.isoformat()}

    first = metadata()
    advisory = refresh.refresh_minutes * 60
    return RefreshableCredentials(
        first["access_key"], first["secret_key"], first["token"],
        datetime.fromisoformat(first["expiry_time"]), metadata, METHOD,
        time_fetcher=refresh.clock, advisory_timeout=advisory,
        mandatory_timeout=min(advisory, MANDATORY_REFRESH_MINUTES * 60),
    )


def exchange(account: AwsAccount, token_source: Callable[[], str], refresh: Refresh,
             session: Any = None) -> Callable[[], sts.Credentials]:
    """A function doing one full exchange: fresh token, AssumeRoleWithWebIdentity, check.

    The STS client comes from ``session`` (a botocore session) when one is given."""
    client = sts.sts_client(account, session)
    name = sts.session_name(refresh.environ)

    def fetch() -> sts.Credentials:
        got = sts.assume_role(client, sts.AssumeRequest(account.role_arn, token_source(), name,
                                                        refresh.duration))
        return sts.check_account(got, account, refresh.where)

    return fetch


def web_identity_session(account: AwsAccount, token_source: Callable[[], str],
                         refresh: Refresh | None = None) -> Any:
    """A ``botocore.session.Session`` whose credentials renew themselves through GitHub OIDC.

    The exchange's STS client is made from this same session, so the service clients made
    from it afterwards reuse its loader and caches instead of loading them again. Make
    clients with ``session.create_client(name, region_name=account.region, ...)``.
    """
    import botocore.session
    from botocore.credentials import CredentialProvider

    refresh = refresh or Refresh()
    core = botocore.session.Session()
    core.set_config_variable("region", account.region)
    credentials = refreshable(exchange(account, token_source, refresh, core), refresh)

    class _Provider(CredentialProvider):
        METHOD = METHOD
        CANONICAL_NAME = "ReleaseWebIdentity"

        def load(self) -> Any:
            return credentials

    core.get_component("credential_provider").insert_before("env", _Provider())
    return core
