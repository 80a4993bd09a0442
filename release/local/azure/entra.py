"""Entra ID's token endpoint for workload identity federation, on the local cloud.

``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials`` and a client
assertion of type ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``: the assertion
is an OIDC token from the local issuer. As Entra does, it is accepted only when its
signature verifies against the issuer's JWKS, it is within its validity, and an app
registration of the tenant has a federated credential with the token's issuer, subject
(compared case-sensitively) and audience. Refusals carry Entra's AADSTS codes and wording.

The app registrations live in ``azure/entra.json`` in the state directory, read at every
request (``release local seed`` adds a repository's subject; tests edit it)::

    {"token_lifetime_seconds": 3599,
     "applications": [{"tenant_id": ..., "client_id": ...,
                       "federated_credentials": [{"issuer": ..., "subject": ...,
                                                  "audiences": ["api://AzureADTokenExchange"]}]}]}
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_LIFETIME = 3599  # seconds: what Entra's expires_in says for these tokens
ENTRA_FILE = "entra.json"
FEDERATION_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"


class EntraError(Exception):
    """A refusal, as Entra words it: an OAuth error, an AADSTS code and its description."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self, now: float) -> dict[str, Any]:
        """The JSON body Entra answers with (trace and correlation ids are fresh GUIDs)."""
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return {"error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
                                     f"Correlation ID: {correlation} Timestamp: {stamp}",
                "error_codes": [self.code], "timestamp": stamp, "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}"}


@dataclass(frozen=True)
class Credential:
    """A federated identity credential of an app registration."""

    issuer: str
    subject: str
    audiences: tuple[str, ...] = (EXCHANGE_AUDIENCE,)


@dataclass(frozen=True)
class Application:
    """An app registration: its tenant, client id and federated credentials."""

    tenant_id: str
    client_id: str
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True)
class Directory:
    """What ``entra.json`` holds."""

    applications: tuple[Application, ...] = ()
    token_lifetime_seconds: int = DEFAULT_LIFETIME


def read_directory(path: Path) -> Directory:
    """``entra.json``, or an empty directory when it does not exist."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Directory()
    apps = tuple(Application(str(a["tenant_id"]), str(a["client_id"]), tuple(
        Credential(str(c["issuer"]), str(c["subject"]),
                   tuple(str(x) for x in c.get("audiences", [EXCHANGE_AUDIENCE])))
        for c in a.get("federated_credentials", []))) for a in data.get("applications", []))
    return Directory(apps, int(data.get("token_lifetime_seconds", DEFAULT_LIFETIME)))


def write_directory(path: Path, directory: Directory) -> None:
    """Write ``entra.json`` (owner-readable only)."""
    data = {"token_lifetime_seconds": directory.token_lifetime_seconds, "applications": [
        {"tenant_id": a.tenant_id, "client_id": a.client_id, "federated_credentials": [
            {"issuer": c.issuer, "subject": c.subject, "audiences": list(c.audiences)}
            for c in a.credentials]} for a in directory.applications]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def with_credential(directory: Directory, tenant_id: str, client_id: str,
                    credential: Credential) -> Directory:
    """``directory`` with ``credential`` on that app registration (made when missing)."""
    apps = list(directory.applications)
    for index, app in enumerate(apps):
        if (app.tenant_id, app.client_id) == (tenant_id, client_id):
            if credential not in app.credentials:
                apps[index] = Application(tenant_id, client_id, (*app.credentials, credential))
            break
    else:
        apps.append(Application(tenant_id, client_id, (credential,)))
    return Directory(tuple(apps), directory.token_lifetime_seconds)


def invalid_client(code: int, description: str) -> EntraError:
    """An ``invalid_client`` refusal (HTTP 401, as Entra answers a client it cannot trust)."""
    return EntraError(401, "invalid_client", code, description)


def _verified(assertion: str, jwks: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """The assertion's claims once its RS256 signature verifies against its issuer's keys."""
    import jwt

    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    issuer = str(unverified.get("iss", ""))
    try:
        keys = jwks(issuer).get("keys", [])
    except (OSError, ValueError) as exc:
        raise invalid_client(700211, "No matching federated identity record found for "
                             f"presented assertion issuer '{issuer}' ({exc}).") from None
    key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if key is None:
        raise invalid_client(700027, "Client assertion failed signature validation.")
    try:
        return dict(jwt.decode(assertion, jwt.PyJWK(dict(key)).key, algorithms=["RS256"],
                               options={"verify_aud": False, "verify_exp": False,
                                        "verify_nbf": False, "verify_iat": False}))
    except jwt.PyJWTError:
        raise invalid_client(700027, "Client assertion failed signature validation.") from None


def _in_time(claims: Mapping[str, Any], now: float) -> None:
    expires, begins = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(expires, int | float) or now >= expires or \
            (isinstance(begins, int | float) and now + 300 < begins):
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(
            "%m/%d/%Y %H:%M:%S")
        raise invalid_client(700024, "Client assertion is not within its valid time range. "
                             f"Current time: {stamp}, expiry time of assertion "
                             f"{expires}.")


def match(directory: Directory, tenant_id: str, client_id: str,
          claims: Mapping[str, Any]) -> Application:
    """The app registration the verified ``claims`` log in as, or Entra's refusal."""
    app = next((a for a in directory.applications
                if (a.tenant_id, a.client_id) == (tenant_id, client_id)), None)
    if app is None:
        raise EntraError(400, "unauthorized_client", 700016,
                         f"Application with identifier '{client_id}' was not found in the "
                         f"directory '{tenant_id}'.")
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    audiences = claims.get("aud", [])
    audiences = [audiences] if isinstance(audiences, str) else list(audiences)
    by_issuer = [c for c in app.credentials if c.issuer == issuer]
    if not by_issuer:
        raise invalid_client(700211, "No matching federated identity record found for "
                             f"presented assertion issuer '{issuer}'. Please check your "
                             "federated identity credential Subject, Audience and Issuer "
                             f"against the presented assertion. {FEDERATION_DOC}")
    by_subject = [c for c in by_issuer if c.subject == subject]
    if not by_subject:
        raise invalid_client(700213, "No matching federated identity record found for "
                             f"presented assertion subject '{subject}'. Check your federated "
                             "identity credential Subject, Audience and Issuer against the "
                             f"presented assertion. {FEDERATION_DOC}")
    if not any(a in c.audiences for c in by_subject for a in audiences):
        raise invalid_client(700212, "No matching federated identity record found for "
                             f"presented assertion audience '{', '.join(audiences)}'. Please "
                             "check your federated identity credential Subject, Audience and "
                             f"Issuer against the presented assertion. {FEDERATION_DOC}")
    return app


@dataclass
class Issued:
    """An access token handed out: for whom, and until when."""

    tenant_id: str
    client_id: str
    expires_on: float


@dataclass
class Tokens:
    """The access tokens handed out (in memory: they end with the process)."""

    clock: Callable[[], float]
    _issued: dict[str, Issued] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, app: Application, lifetime: int) -> tuple[str, int]:
        """A new opaque bearer token and its lifetime in seconds."""
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._issued[token] = Issued(app.tenant_id, app.client_id, self.clock() + lifetime)
        return token, lifetime

    def check(self, token: str) -> str | None:
        """None when ``token`` is one we issued and it has not expired, else the ARM error
        code (``InvalidAuthenticationToken`` / ``ExpiredAuthenticationToken``)."""
        with self._lock:
            found = self._issued.get(token)
        if found is None:
            return "InvalidAuthenticationToken"
        return "ExpiredAuthenticationToken" if self.clock() >= found.expires_on else None


def token_request(form: Mapping[str, list[str]], tenant_id: str, directory: Directory,
                  jwks: Callable[[str], Mapping[str, Any]], tokens: Tokens) -> dict[str, Any]:
    """Answer a token request, or raise :class:`EntraError`."""
    def one(name: str) -> str:
        return (form.get(name) or [""])[0]

    if one("grant_type") != "client_credentials":
        raise EntraError(400, "unsupported_grant_type", 70003,
                         "The app requested an unsupported grant type "
                         f"'{one('grant_type')}'.")
    if one("client_assertion_type") != ASSERTION_TYPE or not one("client_assertion"):
        raise EntraError(401, "invalid_client", 7000218, "The request body must contain the "
                         "following parameter: 'client_assertion' or 'client_secret'.")
    if not one("scope").endswith("/.default"):
        raise EntraError(400, "invalid_scope", 1002012,
                         f"The provided value for scope {one('scope')} is not valid. Client "
                         "credential flows must have a scope value with /.default suffixed "
                         "to the resource identifier (application ID URI).")
    claims = _verified(one("client_assertion"), jwks)
    _in_time(claims, tokens.clock())
    app = match(directory, tenant_id, one("client_id"), claims)
    token, lifetime = tokens.issue(app, directory.token_lifetime_seconds)
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
            "access_token": token}


def discovery(base: str, tenant_id: str) -> dict[str, Any]:
    """``/{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL reads first)."""
    root = f"{base}/{tenant_id}"
    return {"token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{root}/discovery/v2.0/keys", "issuer": f"{root}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "private_key_jwt"],
            "response_types_supported": ["code", "id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"]}
