"""``release auth azure --env ENV``: GitHub OIDC -> Entra ID token -> ACR login.

Also the functions ``release deploy`` uses for ``registry.type: acr`` and for the
``azure_container_app`` target. ``REQUESTS_CA_BUNDLE``, when set, is the CA file every
Azure call trusts (the tests' local HTTPS fakes); otherwise the system's.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from release.adapters import github_masks, oidc
from release.adapters.azure import acr, container_apps, identity
from release.adapters.registry import Login
from release.config import destinations, load_config
from release.config.model import AzureAppDeployment, Environment, Registry
from release.errors import ReleaseError, UsageError
from release.output import envelope


@dataclass(frozen=True)
class Options:
    """Which environment's Azure identity to use."""

    root: Path
    environment: str
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Deps:
    """The outside world, replaced in tests."""

    tokens: Callable[[Mapping[str, str]], Callable[[str], str]] = oidc.TokenSource.from_environ
    docker_login: Callable[[Login], None] | None = None  # None: the Docker engine's login
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Result:
    """What was obtained; never the tokens themselves."""

    environment: str
    tenant_id: str
    client_id: str
    expires_on: int
    registry: str | None

    def to_text(self) -> str:
        """One line per thing done."""
        lines = [f"Entra ID token for app {self.client_id} in tenant {self.tenant_id}, "
                 f"expires at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.expires_on))}"]
        if self.registry:
            lines.append(f"docker logged in to {self.registry}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON."""
        return envelope("auth-azure", {"environment": self.environment,
                                       "tenant_id": self.tenant_id, "client_id": self.client_id,
                                       "expires_on": self.expires_on, "registry": self.registry})


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


class Session:
    """One Entra ID token shared by a whole deploy (logins, reads, updates), renewed when it
    is within five minutes of expiry. Thread-safe: services are deployed in parallel."""

    RENEW_BEFORE = 300

    def __init__(self, env: Environment, environ: Mapping[str, str],
                 deps: Deps | None = None) -> None:
        self.env = env
        self.environ = environ
        self.deps = deps or Deps()
        self._lock = threading.Lock()
        self._token: identity.AccessToken | None = None

    def token(self) -> str:
        """A valid management token, fetched on first use."""
        with self._lock:
            if self._token is None or \
                    self._token.expires_on - self.deps.clock() < self.RENEW_BEFORE:
                self._token = management_token(self.env, self.environ, self.deps)
            return self._token.token

    def api(self) -> container_apps.Api:
        """The management API with this session's token."""
        if self.env.azure is None:
            raise UsageError(f"{self.env.path} has no azure block",
                             "add azure: {tenant_id, client_id, subscription_id}")
        return container_apps.Api(self.env.azure, self.token(),
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


def _app(env: Environment, service: str) -> AzureAppDeployment:
    dep = env.deployments[service]
    if dep.azure_container_app is None or env.azure is None:
        raise ReleaseError(f"{service} has no azure_container_app in {env.path}")
    return dep.azure_container_app


def current_app(env: Environment, service: str, environ: Mapping[str, str],
                session: Session | None = None) -> container_apps.Running:
    """What the service's container app runs now."""
    app = _app(env, service)
    return container_apps.current((session or Session(env, environ)).api(), app)


def deploy_container_app(env: Environment, service: str, image: str,
                         wait: container_apps.Wait, environ: Mapping[str, str], *,
                         session: Session | None = None) -> str:
    """The ``azure_container_app`` target: set the image, wait; return the revision name."""
    app = _app(env, service)
    return container_apps.deploy((session or Session(env, environ)).api(), app, image, wait)


def _docker_login(login: Login) -> None:
    from release.adapters.docker_engine import connect

    client = connect()
    try:
        client.login(username=login.username, password=login.password,
                     registry=login.host, reauth=True)
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds
        raise ReleaseError(f"docker login to {login.host} failed: {exc}") from None
    finally:
        client.close()


def run(options: Options, deps: Deps | None = None) -> Result:
    """Get the Entra ID token; with an acr registry, log docker in to it."""
    deps = deps or Deps()
    env = load_config(options.root, (options.environment,)).environments[options.environment]
    token = management_token(env, options.environ, deps)
    assert env.azure is not None  # noqa: S101 - management_token checked
    registry = None
    if env.registry.type == "acr":
        login = acr.login(env.registry.host, token.token, env.azure.tenant_id,
                          options.environ.get("REQUESTS_CA_BUNDLE"), env.azure.acr_exchange_url)
        if options.environ.get("GITHUB_ACTIONS") == "true":
            github_masks.mask(login.password, stream=deps.stdout)
        (deps.docker_login or _docker_login)(login)
        registry = login.host
    return Result(env.name, env.azure.tenant_id, env.azure.client_id, token.expires_on,
                  registry)

