"""Where credentials may be sent: decided from config before any call, checked again at the call.

A branch can change every config file. So a config may name only hosts that the cloud
itself names: ECR ``<account>.dkr.ecr.<region>.amazonaws.com``, ``<name>.azurecr.io`` (and
the sovereign clouds' suffixes), Entra ID and Resource Manager's public hosts; or a
loopback address, which is where the embedded local cloud listens. Any other host would
receive the GitHub OIDC token, an ECR password or an Entra ID token.

Pure: strings in, a refusal (what is wrong and the allowed forms) or None out.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from release.errors import UsageError

ECR_HOST = re.compile(r"^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-gov)?-[a-z]+-[0-9])"
                      r"\.amazonaws\.com(?:\.cn)?$")
ACR_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")
_ACR_NAME = re.compile(r"^[a-z0-9]{1,50}$")  # Azure asks 5 to 50; the suffix is what matters here
AUTHORITY_HOSTS = ("login.microsoftonline.com", "login.chinacloudapi.cn",
                   "login.microsoftonline.us")
MANAGEMENT_HOSTS = ("management.azure.com", "management.chinacloudapi.cn",
                    "management.usgovcloudapi.net")


@dataclass(frozen=True)
class Refusal:
    """Why a destination is refused, and the forms that are allowed."""

    message: str
    hint: str


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (with or without a port)."""
    name = _host_only(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_only(host: str) -> str:
    """``host`` without its port and IPv6 brackets, lowercased."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def _url_host(url: str) -> tuple[str, str] | None:
    """(scheme, host) of ``url``; None when it is not a plain http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not host or parts.username or parts.password:
        return None
    return parts.scheme, host


def _loopback_only(url: str, refusal: Refusal) -> Refusal | None:
    found = _url_host(url)
    return None if found is not None and is_loopback(found[1]) else refusal


def aws_endpoint(url: str) -> Refusal | None:
    """An ``aws.endpoint_url`` override: only the local cloud, on a loopback address."""
    return _loopback_only(url, Refusal(
        f"endpoint_url {url!r} is not a loopback address; the GitHub OIDC token and every "
        "AWS call would be sent there",
        "omit endpoint_url for real AWS; it is only for the embedded local cloud, e.g. "
        "http://127.0.0.1:5000 (localhost, 127.0.0.0/8 or [::1])"))


def azure_endpoint(url: str, public_hosts: tuple[str, ...], what: str) -> Refusal | None:
    """An Azure endpoint override: one of Azure's own hosts over https, or a loopback one."""
    found = _url_host(url)
    if found is not None:
        scheme, host = found
        if is_loopback(host) or (scheme == "https" and host in public_hosts):
            return None
    return Refusal(
        f"{what} {url!r} is neither one of Azure's hosts nor a loopback address; the "
        "Entra ID token would be sent there",
        "omit it for Azure's public cloud; allowed: "
        + ", ".join(f"https://{h}" for h in public_hosts) + ", or a loopback address for a "
        "local fake")


def acr_exchange(url: str) -> Refusal | None:
    """``acr_exchange_url``: the registry's own endpoint is the default; overrides are local."""
    return _loopback_only(url, Refusal(
        f"acr_exchange_url {url!r} is not a loopback address; the Entra ID token would be "
        "posted there",
        "omit it: ACR logins use https://<registry host>/oauth2/exchange; an override is "
        "only for a local fake on 127.0.0.1"))


def registry_host(kind: str, host: str, *, account_id: str | None,
                  region: str | None) -> Refusal | None:
    """A registry host for ``kind``: ECR's own host for the account, an ACR host, or
    loopback. ``oci`` registries get no cloud credential, so any host is allowed."""
    if kind == "oci" or is_loopback(host):
        return None
    if kind == "ecr":
        expected = f"{account_id}.dkr.ecr.{region}.amazonaws.com"
        match = ECR_HOST.match(host.lower())
        if match and match.group(1) == account_id and match.group(2) == region:
            return None
        why = ("names another account or region" if match else
               "is not an ECR registry host")
        return Refusal(
            f"registry host '{host}' {why}; the ECR password would be sent there",
            f"omit host to use {expected} (the environment's account and region), or use "
            "type: oci for a registry that needs no AWS credential")
    if kind == "acr":
        name = host.lower()
        for suffix in ACR_SUFFIXES:
            if name.endswith(suffix) and _ACR_NAME.match(name[: -len(suffix)]):
                return None
        return Refusal(
            f"registry host '{host}' is not an Azure Container Registry host; the Entra ID "
            "token would be sent there",
            "use <registry name>.azurecr.io (or .azurecr.cn, .azurecr.us for sovereign "
            "clouds): the name is lowercase letters and digits")
    return None


def aws_account(endpoint_url: str | None) -> None:
    """Refuse, at the call, an AWS endpoint override that validation would have refused."""
    if endpoint_url is not None:
        checked(aws_endpoint(endpoint_url))


def azure_account(authority_url: str, management_url: str,
                  acr_exchange_url: str | None) -> None:
    """Refuse, at the call, Azure endpoints that validation would have refused."""
    checked(azure_endpoint(authority_url, AUTHORITY_HOSTS, "authority_url"))
    checked(azure_endpoint(management_url, MANAGEMENT_HOSTS, "management_url"))
    if acr_exchange_url is not None:
        checked(acr_exchange(acr_exchange_url))


def token_origin(endpoint_urls: Iterable[str | None], token_request_url: str | None) -> None:
    """Refuse to send a token from GitHub's real issuer to a loopback endpoint.

    On a self-hosted runner, anything listening on 127.0.0.1 could take it: a loopback
    endpoint (the embedded local cloud) only ever receives the local issuer's tokens.
    """
    local = [url for url in endpoint_urls if url is not None
             and (found := _url_host(url)) is not None and is_loopback(found[1])]
    if not local or token_request_url is None:
        return
    origin = _url_host(token_request_url)
    if origin is not None and is_loopback(origin[1]):
        return
    raise UsageError(
        f"the environment sends its token to {local[0]} (a loopback address), but the token "
        "would come from GitHub's issuer: a real token is never sent to a local endpoint",
        "run local environments only against the embedded local cloud (`release local up` "
        "sets ACTIONS_ID_TOKEN_REQUEST_URL to its own issuer); in GitHub Actions, deploy to "
        "a real environment")


def checked(refusal: Refusal | None) -> None:
    """Raise the refusal: the second line of defence, at the call itself (validation is the
    first, so a refusal here means a config was not validated)."""
    if refusal is not None:
        raise UsageError(refusal.message, refusal.hint)
