"""STS: trade a GitHub OIDC token for role credentials (AssumeRoleWithWebIdentity).

The call is unsigned: the web identity token is the credential, so no AWS keys are needed
to make it (and none that happen to be lying around are used).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from release.adapters.aws.common import CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT, explain
from release.config import destinations
from release.config.model import AwsAccount
from release.errors import ReleaseError

DEFAULT_DURATION = 3600
LOCAL_SESSION_NAME = "release-local"
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class Credentials:
    """Temporary role credentials and whom they belong to."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str

    def __repr__(self) -> str:  # never show the secrets, even in a debugger or a log
        return (f"Credentials(access_key_id=***, assumed_role_arn={self.assumed_role_arn!r}, "
                f"expiration={self.expiration.isoformat()})")

    @property
    def account(self) -> str:
        """The account id of the assumed role (from ``arn:aws:sts::ACCOUNT:assumed-role/...``)."""
        parts = self.assumed_role_arn.split(":")
        return parts[4] if len(parts) > 4 else ""

    @property
    def secrets(self) -> tuple[str, str, str]:
        """Every value that must be masked."""
        return (self.access_key_id, self.secret_access_key, self.session_token)


@dataclass(frozen=True)
class AssumeRequest:
    """One AssumeRoleWithWebIdentity call."""

    role_arn: str
    token: str
    session_name: str = LOCAL_SESSION_NAME
    duration: int = DEFAULT_DURATION


def session_name(environ: Mapping[str, str]) -> str:
    """``release-<run id>-<attempt>`` under GitHub Actions (CloudTrail shows it), else local."""
    run_id = environ.get("GITHUB_RUN_ID", "").strip()
    if not run_id:
        return LOCAL_SESSION_NAME
    attempt = environ.get("GITHUB_RUN_ATTEMPT", "").strip() or "1"
    name = _SESSION_NAME_CHARS.sub("-", f"release-{run_id}-{attempt}")[:64]
    return name if len(name) >= 2 else LOCAL_SESSION_NAME


def sts_client(account: AwsAccount, session: Any = None) -> Any:
    """An unsigned STS client for ``account``'s region (and local endpoint, if any).

    ``session`` is the botocore session to make it from, so that the clients made after it
    share its loader and caches; without one a new botocore session is made.
    """
    from botocore import UNSIGNED
    from botocore.config import Config

    destinations.aws_account(account.endpoint_url)  # the OIDC token goes to this endpoint
    if session is None:
        import botocore.session  # deferred: `release --version` needs no botocore

        session = botocore.session.Session()
    config = Config(signature_version=UNSIGNED, retries={"mode": "standard",
                                                         "max_attempts": MAX_ATTEMPTS},
                    connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    return session.create_client("sts", region_name=account.region,
                                 endpoint_url=account.endpoint_url, config=config)


def assume_role(client: Any, request: AssumeRequest) -> Credentials:
    """Credentials for ``request.role_arn``; STS refusals become messages that say what to do."""
    try:
        found = client.assume_role_with_web_identity(
            RoleArn=request.role_arn, RoleSessionName=request.session_name,
            WebIdentityToken=request.token, DurationSeconds=request.duration)
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise _explain(exc, request.role_arn) from None
    raw = found["Credentials"]
    return Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"],
                       raw["Expiration"], found.get("AssumedRoleUser", {}).get("Arn", ""))


def _explain(exc: Exception, role_arn: str) -> ReleaseError:
    from botocore.exceptions import ClientError

    doing = f"AssumeRoleWithWebIdentity for {role_arn}"
    if not isinstance(exc, ClientError):
        return explain(exc, doing)
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code == "AccessDenied":
        return ReleaseError(
            f"{doing}: AccessDenied: {message}".rstrip(": "),
            "the role's trust policy does not admit this workflow's token: run "
            "`release doctor --env ENV` to see which condition fails, and "
            "`release iam trust-policy --env ENV --repo OWNER/REPO` for one that matches")
    if code in {"ExpiredTokenException", "ExpiredToken"}:
        return ReleaseError(f"{doing}: the OIDC token expired: {message}".rstrip(": "),
                            "request the token right before the exchange (it lives 5 "
                            "minutes) and check the machine's clock")
    if code in {"InvalidIdentityToken", "IDPRejectedClaim"}:
        return ReleaseError(
            f"{doing}: {code}: {message}".rstrip(": "),
            "the account needs an IAM OIDC identity provider for "
            "token.actions.githubusercontent.com with audience sts.amazonaws.com; "
            "`release doctor --env ENV` checks the rest")
    if code == "ValidationError" and "DurationSeconds" in message:
        return ReleaseError(f"{doing}: {message}",
                            "lower --duration, or raise the role's maximum session duration")
    return explain(exc, doing)


def check_account(credentials: Credentials, account: AwsAccount, where: str) -> Credentials:
    """Refuse credentials for another account than the environment file names."""
    if credentials.account != account.account_id:
        raise ReleaseError(
            f"the credentials are for account {credentials.account or 'unknown'} "
            f"({credentials.assumed_role_arn or account.role_arn}), but {where} says "
            f"aws.account_id {account.account_id}",
            f"fix aws.role_arn or aws.account_id in {where}; credentials for another "
            "account are refused so a release never lands in the wrong one")
    return credentials
