"""Entra ID access tokens from a GitHub OIDC token (workload identity federation).

``azure-identity``'s ``ClientAssertionCredential`` sends the GitHub token as the client
assertion; the app registration's federated credential decides whether it is accepted
(its subject is compared case-sensitively with the token's ``sub``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from release.config import destinations
from release.config.model import AzureAccount
from release.errors import ReleaseError


@dataclass(frozen=True)
class AccessToken:
    """An Entra ID bearer token and when it expires (epoch seconds)."""

    token: str
    expires_on: int

    def __repr__(self) -> str:  # never show the token
        return f"AccessToken(token=***, expires_on={self.expires_on})"


def management_scope(account: AzureAccount) -> str:
    """The ``.default`` scope of the Resource Manager endpoint the account uses."""
    return account.management_url.rstrip("/") + "/.default"


def entra_token(account: AzureAccount, assertion: Callable[[], str], scope: str,
                ca_file: str | None = None) -> AccessToken:
    """A token for ``scope`` in the account's tenant, as its app registration."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from azure.identity import ClientAssertionCredential

    destinations.azure_account(account.authority_url, account.management_url,
                               account.acr_exchange_url)  # the GitHub token goes there
    extra: dict[str, object] = {}
    if ca_file:
        extra["connection_verify"] = ca_file
    credential = ClientAssertionCredential(
        account.tenant_id, account.client_id, assertion, authority=account.authority_url,
        disable_instance_discovery=account.authority_url.rstrip("/")
        != "https://login.microsoftonline.com", **extra)
    try:
        got = credential.get_token(scope)
    except ClientAuthenticationError as exc:
        raise ReleaseError(
            f"Entra ID refused the GitHub token for app {account.client_id}: "
            f"{str(exc.message or exc).splitlines()[0]}",
            "the app registration needs a federated credential with issuer "
            "https://token.actions.githubusercontent.com, audience api://AzureADTokenExchange "
            "and subject repo:OWNER/REPO:environment:ENV: exactly, case included") from None
    except AzureError as exc:
        raise ReleaseError(f"cannot reach Entra ID at {account.authority_url}: {exc}",
                           "retry; check https://status.azure.com") from None
    finally:
        credential.close()
    return AccessToken(got.token, int(got.expires_on))
