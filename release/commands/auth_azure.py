"""``release auth azure --env ENV``: GitHub OIDC -> Entra ID token -> ACR login."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from release.adapters import github_masks
from release.adapters.azure import acr
from release.adapters.registry import Login
from release.config import load_config
from release.engine.azure import Deps, management_token
from release.errors import ReleaseError
from release.output import envelope

__all__ = ["Deps", "Options", "Result", "run"]


@dataclass(frozen=True)
class Options:
    """Which environment's Azure identity to use."""

    root: Path
    environment: str
    environ: Mapping[str, str]


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
        if deps.docker_login is not None:
            deps.docker_login(login)
        else:
            _docker_login(login, options.environ)
        registry = login.host
    return Result(env.name, env.azure.tenant_id, env.azure.client_id, token.expires_on,
                  registry)

