"""Azure for a release: one Entra ID session (from the job's GitHub OIDC token) shared by
the ACR logins, the container app reads and the updates of one run.

``REQUESTS_CA_BUNDLE``, when set in the environment passed in, is the CA file every Azure
call trusts (the tests' local HTTPS fakes); otherwise the system's.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from release.adapters import github_masks, oidc
from release.adapters.azure import acr, container_apps, identity
from release.adapters.registry import Login
from release.config import destinations
from release.config.model import Environment, Registry
from release.errors import ReleaseError, UsageError


@dataclass
class Deps:
    """The outside world, replaced in tests."""

    tokens: Callable[[Mapping[str, str]], Callable[[str], str]] = oidc.TokenSource.from_environ
    docker_login: Callable[[Login], None] | None = None  # None: the Docker engine's login
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.time
    # how a Session gets a token (None: management_token, through Entra ID)
    entra: Callable[[], identity.AccessToken] | None = None


def management_token(env: Environment, environ: Mapping[str, str],
                     deps: Deps) -> identity.AccessToken:
    """An Entra ID token for Resource Manager, from the job's GitHub OIDC token."""
    if env.azure is None:
        raise UsageError(f"{env.path} has no azure block",
                         "add azure: {tenant_id, client_id, subscription_id}")
    destinations.token_origin([env.azure.authority_url, env.azure.management_url],
                              environ.get(oidc.REQUEST_URL))
    github = environ.get("GITHUB_ACTIONS") == "true"
    source = deps.tokens(environ)

    def assertion() -> str:
        token = source(oidc.AZURE_AUDIENCE)
        if github:
            github_masks.mask(token, stream=deps.stdout)
        oidc.check_not_expired(oidc.unverified_claims(token), deps.clock())
        return token

    got = identity.entra_token(env.azure, assertion, identity.management_scope(env.azure),
                               environ.get("REQUESTS_CA_BUNDLE"))
    if github:
        github_masks.mask(got.token, stream=deps.stdout)
    return got


def renew_at(token: identity.AccessToken, now: float, before: float) -> float:
    """When to trade ``token`` for a new one: ``before`` seconds ahead of its expiry, or
    halfway through its life when it lives less than twice that."""
    return token.expires_on - min(before, max(0.0, token.expires_on - now) / 2)


class Session:
    """One Entra ID token shared by a whole deploy (logins, reads, updates, waits), renewed
    with a fresh GitHub OIDC assertion before it expires: five minutes ahead, or halfway
    through a shorter life. A job may outlast both the token (about an hour) and GitHub's
    assertion (minutes), which is never reused. Thread-safe: services deploy in parallel."""

    RENEW_BEFORE = 300

    def __init__(self, env: Environment, environ: Mapping[str, str],
                 deps: Deps | None = None) -> None:
        self.env = env
        self.environ = environ
        self.deps = deps or Deps()
        self._lock = threading.Lock()
        self._token: identity.AccessToken | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        """A valid management token: fetched on first use, renewed when due."""
        with self._lock:
            now = self.deps.clock()
            if self._token is None or now >= self._renew_at:
                self._token = (self.deps.entra() if self.deps.entra is not None
                               else management_token(self.env, self.environ, self.deps))
                self._renew_at = renew_at(self._token, now, self.RENEW_BEFORE)
            return self._token.token

    def api(self) -> container_apps.Api:
        """The management API, asking this session for a token at each call (a revision
        wait may outlive one token)."""
        if self.env.azure is None:
            raise UsageError(f"{self.env.path} has no azure block",
                             "add azure: {tenant_id, client_id, subscription_id}")
        self.token()  # the first token now: a refusal is reported before anything else
        return container_apps.Api(self.env.azure, self.token,
                                  self.environ.get("REQUESTS_CA_BUNDLE"))


def registry_login(env: Environment, environ: Mapping[str, str], deps: Deps | None = None,
                   registry: Registry | None = None, session: Session | None = None) -> Login:
    """ACR credentials for ``registry`` (default ``env.registry``), from the refresh token
    ``/oauth2/exchange`` gives for the Entra ID token."""
    deps = deps or Deps()
    registry = registry or env.registry
    if registry.type != "acr" or env.azure is None:
        raise UsageError(f"{env.path}: {registry.host} is not an acr registry with an azure "
                         "block")
    token = (session or Session(env, environ, deps)).token()
    login = acr.login(registry.host, token, env.azure.tenant_id,
                      environ.get("REQUESTS_CA_BUNDLE"), env.azure.acr_exchange_url)
    if environ.get("GITHUB_ACTIONS") == "true":
        github_masks.mask(login.password, stream=deps.stdout)
    return login


@dataclass(frozen=True)
class SignedIn:
    """An Entra ID token, and the ACR registry docker was logged in to (if any)."""

    token: identity.AccessToken
    registry: str | None


def sign_in(env: Environment, environ: Mapping[str, str], deps: Deps) -> SignedIn:
    """The job's Entra ID token; with an acr registry, docker logged in to it."""
    token = management_token(env, environ, deps)
    assert env.azure is not None  # noqa: S101 - management_token checked
    if env.registry.type != "acr":
        return SignedIn(token, None)
    login = acr.login(env.registry.host, token.token, env.azure.tenant_id,
                      environ.get("REQUESTS_CA_BUNDLE"), env.azure.acr_exchange_url)
    if environ.get("GITHUB_ACTIONS") == "true":
        github_masks.mask(login.password, stream=deps.stdout)
    if deps.docker_login is not None:
        deps.docker_login(login)
    else:
        _docker_login(login, environ)
    return SignedIn(token, login.host)


def _docker_login(login: Login, environ: Mapping[str, str]) -> None:
    from release.adapters.docker_engine import connect

    client = connect(environ)
    try:
        client.login(username=login.username, password=login.password,
                     registry=login.host, reauth=True)
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds
        raise ReleaseError(f"docker login to {login.host} failed: {exc}") from None
    finally:
        client.close()
