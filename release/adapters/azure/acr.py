"""Azure Container Registry: trade an Entra ID token for a registry refresh token.

``POST https://<registry>/oauth2/exchange`` returns a refresh token; docker logs in with
the all-zero GUID as user name and that token as password (what ``az acr login`` does).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from release.adapters.registry import Login
from release.errors import ReleaseError

ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
TIMEOUT = 30


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify against the system CAs, or ``ca_file`` (a local fake's self-signed CA)."""
    return ssl.create_default_context(cafile=ca_file)


def login(host: str, access_token: str, tenant_id: str, ca_file: str | None = None) -> Login:
    """Registry credentials for ``host`` from an Entra ID access token."""
    form = urllib.parse.urlencode({"grant_type": "access_token", "service": host,
                                   "tenant": tenant_id, "access_token": access_token}).encode()
    request = urllib.request.Request(f"https://{host}/oauth2/exchange", data=form,
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
