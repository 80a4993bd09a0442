"""AssumeRoleWithWebIdentity with tokens from the local issuer, against moto in server mode.

moto accepts any web identity token, so refusals (AccessDenied, an expired token) are
scripted with botocore's Stubber: the code paths are ours, the error shapes are AWS's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from oidc_helpers import RunningIssuer

from release.adapters import oidc
from release.adapters.aws import sts, web_identity
from release.config.model import AwsAccount
from release.errors import ReleaseError

ROLE = "arn:aws:iam::123456789012:role/release-local"


def account(endpoint: str, account_id: str = "123456789012", role: str = ROLE) -> AwsAccount:
    return AwsAccount("eu-west-1", account_id, role, endpoint)


def tokens(issuer: RunningIssuer) -> Callable[[], str]:
    source = oidc.TokenSource.from_environ(issuer.environ())
    return lambda: source(oidc.AWS_AUDIENCE)


def test_exchange_returns_credentials_for_the_role(
        issuer: RunningIssuer, moto_endpoint: str) -> None:
    got = sts.assume_role(sts.sts_client(account(moto_endpoint)),
                          sts.AssumeRequest(ROLE, tokens(issuer)(), "release-42-1", 900))
    assert got.account == "123456789012"
    assert got.assumed_role_arn.endswith(":assumed-role/release-local/release-42-1")
    assert got.access_key_id
    assert got.secret_access_key
    assert got.session_token
    assert got.secret_access_key not in repr(got)
    assert sts.check_account(got, account(moto_endpoint), "env.yaml") is got


def test_credentials_for_another_account_are_refused(
        issuer: RunningIssuer, moto_endpoint: str) -> None:
    other = "arn:aws:iam::999999999999:role/release-local"
    got = sts.assume_role(sts.sts_client(account(moto_endpoint, role=other)),
                          sts.AssumeRequest(other, tokens(issuer)()))
    with pytest.raises(ReleaseError, match="for account 999999999999") as caught:
        sts.check_account(got, account(moto_endpoint), "environments/local.yaml")
    assert "aws.account_id 123456789012" in caught.value.message
    assert "environments/local.yaml" in (caught.value.hint or "")


@pytest.mark.parametrize(("code", "expect", "hint"), [
    ("AccessDenied", "AccessDenied: Not authorized", "release doctor --env ENV"),
    ("ExpiredTokenException", "the OIDC token expired", "lives 5 minutes"),
    ("InvalidIdentityToken", "InvalidIdentityToken", "OIDC identity provider"),
])
def test_sts_refusals_say_what_to_do(code: str, expect: str, hint: str) -> None:
    client = sts.sts_client(account("http://127.0.0.1:9"))
    with Stubber(client) as stub:
        stub.add_client_error("assume_role_with_web_identity", service_error_code=code,
                              service_message="Not authorized to perform "
                                              "sts:AssumeRoleWithWebIdentity",
                              http_status_code=403)
        with pytest.raises(ReleaseError) as caught:
            sts.assume_role(client, sts.AssumeRequest(ROLE, "a.b.c-token"))
    assert expect in caught.value.message
    assert hint in (caught.value.hint or "")


@pytest.mark.parametrize(("environ", "name"), [
    ({}, "release-local"),
    ({"GITHUB_RUN_ID": "123456", "GITHUB_RUN_ATTEMPT": "2"}, "release-123456-2"),
    ({"GITHUB_RUN_ID": "123456"}, "release-123456-1"),
    ({"GITHUB_RUN_ID": "12 34/5", "GITHUB_RUN_ATTEMPT": "1"}, "release-12-34-5-1"),
    ({"GITHUB_RUN_ID": "9" * 80, "GITHUB_RUN_ATTEMPT": "1"}, ("release-" + "9" * 80)[:64]),
])
def test_session_name_comes_from_the_run(environ: dict[str, str], name: str) -> None:
    assert sts.session_name(environ) == name


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_credentials_are_renewed_before_they_expire() -> None:
    clock = FakeClock()
    issued: list[int] = []

    def fetch() -> sts.Credentials:
        issued.append(len(issued))
        return sts.Credentials(f"AKIA{len(issued)}", "s", "t", clock() + timedelta(hours=1),
                               "arn:aws:sts::123456789012:assumed-role/r/s")

    creds = web_identity.refreshable(fetch, web_identity.Refresh(refresh_minutes=10,
                                                                 clock=clock))
    assert creds.get_frozen_credentials().access_key == "AKIA1"
    clock.now += timedelta(minutes=45)  # 15 minutes left: nothing to do yet
    assert creds.get_frozen_credentials().access_key == "AKIA1"
    clock.now += timedelta(minutes=8)  # 7 minutes left: inside the refresh window
    assert creds.get_frozen_credentials().access_key == "AKIA2"
    assert len(issued) == 2
    clock.now += timedelta(minutes=30)  # the new ones still have 37 minutes
    assert creds.get_frozen_credentials().access_key == "AKIA2"


def test_web_identity_session_signs_calls_with_assumed_credentials(
        issuer: RunningIssuer, moto_endpoint: str) -> None:
    masked: list[str] = []
    session = web_identity.web_identity_session(
        account(moto_endpoint), tokens(issuer), web_identity.Refresh(
            environ={"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "3"},
            on_credentials=lambda c: masked.extend(c.secrets)))
    client = session.create_client("sts", endpoint_url=moto_endpoint)
    try:
        identity = client.get_caller_identity()
    finally:
        client.close()
    assert identity["Arn"].endswith("assumed-role/release-local/release-7-3")
    assert session.get_credentials().access_key == masked[0]


def test_web_identity_session_refuses_another_account(
        issuer: RunningIssuer, moto_endpoint: str) -> None:
    other = account(moto_endpoint, role="arn:aws:iam::999999999999:role/x")
    with pytest.raises(ReleaseError, match="for account 999999999999"):
        web_identity.web_identity_session(other, tokens(issuer))
