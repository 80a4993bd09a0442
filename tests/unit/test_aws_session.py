"""One botocore session per AwsClients: the service clients and the OIDC exchange's STS
client share its loader and caches (a client from a second session loads them again).

No network: clients are only made, never called; the web identity exchange is stubbed.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from release.adapters import oidc
from release.adapters.aws import clients, sts
from release.config.model import AwsAccount

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/release"


def account(endpoint: str | None = None) -> AwsAccount:
    return AwsAccount("eu-west-1", ACCOUNT, ROLE, endpoint)


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials from the machine, and no instance metadata lookups."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                 "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_every_client_comes_from_one_botocore_session() -> None:
    aws = clients.AwsClients(account("http://127.0.0.1:9"))
    try:
        ecs, lam = aws.client("ecs"), aws.client("lambda")
        assert isinstance(aws.session, botocore.session.Session)
        assert ecs._loader is lam._loader is aws.session.get_component("data_loader")
        assert aws.client("ecs") is ecs
        assert ecs.meta.region_name == lam.meta.region_name == "eu-west-1"
        assert ecs.meta.endpoint_url == "http://127.0.0.1:9"
    finally:
        aws.close()


def test_a_local_endpoint_without_credentials_signs_with_the_local_ones() -> None:
    aws = clients.AwsClients(account("http://127.0.0.1:9"))
    aws.client("ecr")
    assert aws.session.get_credentials().access_key == "local-cloud"
    aws.close()


def test_credentials_come_from_the_default_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for endpoint in (None, "http://127.0.0.1:9"):
        aws = clients.AwsClients(account(endpoint))
        aws.client("ecr")
        credentials = aws.session.get_credentials()
        assert (credentials.access_key, credentials.method) == ("AKIAFROMENV", "env")
        aws.close()


def test_web_identity_sts_client_shares_the_session_of_the_service_clients(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def assume_role(client: Any, request: sts.AssumeRequest) -> sts.Credentials:
        made.append(client)
        assert request.token == "a.b.c"
        return sts.Credentials("ASIAASSUMED", "s", "t", datetime.now(UTC) + timedelta(hours=1),
                               f"arn:aws:sts::{ACCOUNT}:assumed-role/release/r")

    monkeypatch.setattr(oidc.TokenSource, "from_environ",
                        classmethod(lambda _cls, _environ: lambda _audience: "a.b.c"))
    monkeypatch.setattr(sts, "assume_role", assume_role)
    aws = clients.AwsClients(account(), environ={
        "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token"})
    try:
        ecr, ecs = aws.client("ecr"), aws.client("ecs")
        [sts_client] = made
        assert sts_client._loader is ecr._loader is ecs._loader
        assert isinstance(aws.session, botocore.session.Session)
        assert sts_client.meta.region_name == "eu-west-1"
        credentials = aws.session.get_credentials()
        assert (credentials.access_key, credentials.method) == ("ASIAASSUMED",
                                                               "release-web-identity")
    finally:
        aws.close()


def test_sts_client_without_a_session_is_unsigned_and_from_a_new_session() -> None:
    from botocore import UNSIGNED

    first, second = sts.sts_client(account()), sts.sts_client(account())
    assert first.meta.config.signature_version is UNSIGNED
    assert first.meta.config.retries == {"mode": "standard",
                                         "total_max_attempts": clients.MAX_ATTEMPTS + 1}
    assert first._loader is not second._loader
    session = botocore.session.Session()
    assert sts.sts_client(account(), session)._loader is session.get_component("data_loader")


def test_the_aws_clients_do_not_import_boto3() -> None:
    code = (
        "import sys\n"
        "from release.adapters.aws.clients import AwsClients\n"
        "from release.config.model import AwsAccount\n"
        f"aws = AwsClients(AwsAccount('eu-west-1', '{ACCOUNT}', '{ROLE}', 'http://127.0.0.1:9'))\n"
        "aws.client('ecr'); aws.client('ecs'); aws.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 's3transfer'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
