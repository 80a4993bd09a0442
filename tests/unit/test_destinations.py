"""Where credentials may go: the pure rules, as tables (the hostile suite runs them end to end)."""

from __future__ import annotations

import pytest

from release.config import destinations
from release.errors import UsageError


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.1:5001", True), ("127.8.9.10", True), ("localhost", True),
    ("LOCALHOST:80", True), ("[::1]:5000", True), ("::1", True),
    ("0.0.0.0", False),  # noqa: S104 - a value under test, nothing binds ("169.254.169.254", False), ("10.0.0.1", False),
    ("127.0.0.1.evil.com", False), ("localhost.evil.com", False), ("::ffff:127.0.0.1", False),
    ("evil.example.com", False), ("", False),
])
def test_loopback(host: str, loopback: bool) -> None:
    assert destinations.is_loopback(host) is loopback


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://127.0.0.1:5000", True), ("https://localhost", True), ("http://[::1]:5000/", True),
    ("http://169.254.169.254/", False), ("https://sts.amazonaws.com", False),
    ("http://user:pw@127.0.0.1:5000", False), ("ftp://127.0.0.1", False),
    ("http://127.0.0.1:notaport", False), ("127.0.0.1:5000", False),
])
def test_aws_endpoint(url: str, allowed: bool) -> None:
    assert (destinations.aws_endpoint(url) is None) is allowed


@pytest.mark.parametrize(("kind", "host", "allowed"), [
    ("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", True),
    ("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn", True),
    ("ecr", "123456789012.dkr.ecr-fips.eu-west-1.amazonaws.com", True),
    ("ecr", "127.0.0.1:5001", True),
    ("ecr", "999999999999.dkr.ecr.eu-west-1.amazonaws.com", False),
    ("ecr", "123456789012.dkr.ecr.us-east-1.amazonaws.com", False),
    ("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.com", False),
    ("ecr", "public.ecr.aws", False),
    ("acr", "acme.azurecr.io", True), ("acr", "acmebatch.azurecr.cn", True),
    ("acr", "acmebatch.azurecr.us", True), ("acr", "localhost:5443", True),
    ("acr", "acme.azurecr.io.evil.com", False), ("acr", "evilazurecr.io", False),
    ("acr", "a-b.azurecr.io", False), ("acr", "x.y.azurecr.io", False),
    ("oci", "ghcr.io", True), ("oci", "evil.example.com", True),
])
def test_registry_host(kind: str, host: str, allowed: bool) -> None:
    found = destinations.registry_host(kind, host, account_id="123456789012",
                                       region="eu-west-1")
    assert (found is None) is allowed
    if found is not None:
        assert found.hint
        assert host in found.message


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://login.microsoftonline.com", True), ("https://login.microsoftonline.com/", True),
    ("https://login.chinacloudapi.cn", True), ("https://127.0.0.1:8443", True),
    ("http://login.microsoftonline.com", False), ("https://evil.example.com", False),
    ("https://login.microsoftonline.com.evil.com", False),
    ("https://login.microsoftonline.com@evil.com", False),
])
def test_authority(url: str, allowed: bool) -> None:
    found = destinations.azure_endpoint(url, destinations.AUTHORITY_HOSTS, "authority_url")
    assert (found is None) is allowed


def test_the_call_refuses_what_validation_refuses() -> None:
    destinations.aws_account(None)
    destinations.aws_account("http://127.0.0.1:5000")
    with pytest.raises(UsageError, match="not a loopback address"):
        destinations.aws_account("http://169.254.169.254")
    with pytest.raises(UsageError, match="neither one of Azure's hosts"):
        destinations.azure_account("https://evil.example.com", "https://management.azure.com",
                                   None)
    with pytest.raises(UsageError, match="posted there"):
        destinations.azure_account("https://login.microsoftonline.com",
                                   "https://management.azure.com", "https://evil.example.com")


@pytest.mark.parametrize("service", ["sts", "ecs"])
def test_aws_clients_refuse_an_endpoint_before_any_call(service: str) -> None:
    from release.adapters.aws.clients import AwsClients
    from release.adapters.aws.sts import sts_client
    from release.config.model import AwsAccount

    account = AwsAccount("eu-west-1", "123456789012", "arn:aws:iam::123456789012:role/r",
                         endpoint_url="http://169.254.169.254/")
    with pytest.raises(UsageError, match="not a loopback address"):
        AwsClients(account).client(service)
    with pytest.raises(UsageError, match="not a loopback address"):
        sts_client(account)


def test_acr_login_refuses_a_host_outside_azure_before_posting() -> None:
    from release.adapters.azure import acr

    with pytest.raises(UsageError, match="not an Azure Container Registry host"):
        acr.login("evil.example.com", "token", "tenant")
    with pytest.raises(UsageError, match="posted there"):
        acr.login("acme.azurecr.io", "token", "tenant", exchange="https://evil.example.com/x")


@pytest.mark.parametrize(("endpoints", "token_url", "refused"), [
    (["http://127.0.0.1:5000"], "http://127.0.0.1:5002/token", False),
    (["http://127.0.0.1:5000"], "https://pipelines.actions.githubusercontent.com/x", True),
    (["http://localhost:5000"], "https://vstoken.actions.githubusercontent.com/x", True),
    ([None], "https://pipelines.actions.githubusercontent.com/x", False),
    (["https://login.microsoftonline.com"], "https://pipelines.actions.githubusercontent.com",
     False),
    (["https://login.microsoftonline.com", "https://127.0.0.1:8443"],
     "https://pipelines.actions.githubusercontent.com/x", True),
    (["http://127.0.0.1:5000"], None, False),
])
def test_a_real_token_never_goes_to_a_loopback_endpoint(
        endpoints: list[str | None], token_url: str | None, refused: bool) -> None:
    if refused:
        with pytest.raises(UsageError, match="a real token is never sent to a local endpoint"):
            destinations.token_origin(endpoints, token_url)
    else:
        destinations.token_origin(endpoints, token_url)
