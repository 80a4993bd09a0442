"""Azure Container Registry: trade an Entra ID token for a registry refresh token.

``POST https://<registry>/oauth2/exchange`` returns a refresh token; docker logs in with
the all-zero GUID as user name and that token as password (what ``az acr login`` does).
ACR speaks only HTTPS, so its manifests are looked up over HTTPS too, whatever the host.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from release.adapters.registry import MANIFEST_TYPES, Login
from release.config import destinations
from release.errors import ReleaseError

ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
TIMEOUT = 30


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify against the system CAs, or ``ca_file`` (a local fake's self-signed CA)."""
    return ssl.create_default_context(cafile=ca_file)


def exchange_url(host: str, override: str | None = None) -> str:
    """Where the token exchange is posted: the registry's own endpoint unless overridden."""
    return override or f"https://{host}/oauth2/exchange"


def login(host: str, access_token: str, tenant_id: str, ca_file: str | None = None,
          exchange: str | None = None) -> Login:
    """Registry credentials for ``host`` from an Entra ID access token.

    ``exchange`` replaces ``https://<host>/oauth2/exchange`` (a local fake's address).
    """
    destinations.checked(destinations.registry_host("acr", host, account_id=None, region=None))
    if exchange is not None:
        destinations.checked(destinations.acr_exchange(exchange))
    form = urllib.parse.urlencode({"grant_type": "access_token", "service": host,
                                   "tenant": tenant_id, "access_token": access_token}).encode()
    request = urllib.request.Request(exchange_url(host, exchange), data=form,  # noqa: S310
                                     method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT,  # noqa: S310 - https fixed
                                    context=tls_context(ca_file)) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ReleaseError(
            f"ACR {host} refused the Entra ID token ({exc.code})",
            "give the app registration the AcrPush role on the registry") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
        raise ReleaseError(f"cannot reach ACR {host}: {getattr(exc, 'reason', exc)}",
                           "check registry.host in the environment file") from None
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ReleaseError(f"ACR {host} answered the token exchange without a refresh token")
    return Login(host=host, username=ACR_USERNAME, password=token)


def manifest_digest(login: Login, repository: str, tag: str,
                    ca_file: str | None = None) -> str | None:
    """The digest ``repository:tag`` points at in the ACR, or None when the tag is absent."""
    url = f"https://{login.host}/v2/{repository}/manifests/{tag}"
    request = urllib.request.Request(url, method="HEAD")
    token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Accept", MANIFEST_TYPES)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT,  # noqa: S310
                                    context=tls_context(ca_file)) as response:
            digest: str | None = response.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            return None
        if exc.code in {401, 403}:
            raise ReleaseError(f"ACR {login.host} refused the login ({exc.code})",
                               "give the app registration the AcrPush role on the registry"
                               ) from None
        raise ReleaseError(f"ACR {login.host} answered {exc.code} for {repository}:{tag}"
                           ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ReleaseError(f"cannot reach ACR {login.host}: {getattr(exc, 'reason', exc)}",
                           "check registry.host in the environment file") from None
    if not digest:
        raise ReleaseError(f"ACR {login.host} gave no digest for {repository}:{tag}")
    return digest
