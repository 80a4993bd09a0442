"""``release auth aws|azure --env ENV``: GitHub OIDC in, short-lived cloud credentials out.

Under GitHub Actions every secret is masked (``::add-mask::``) the moment it exists,
before anything else prints, then exported to ``$GITHUB_ENV`` for the job's later steps;
never to ``$GITHUB_OUTPUT``. Locally the credentials are printed as ``export`` lines or JSON.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from release.adapters import github_masks, oidc
from release.adapters.aws import sts
from release.config import destinations, load_config
from release.config.model import AwsAccount, Environment
from release.engine import azure
from release.errors import ReleaseError, UsageError
from release.output import envelope


@dataclass(frozen=True)
class Options:
    """Which environment's role to assume, for how long."""

    root: Path
    environment: str
    duration: int = sts.DEFAULT_DURATION
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Deps:
    """The outside world, replaced in tests."""

    tokens: Callable[[Mapping[str, str]], Callable[[str], str]] = oidc.TokenSource.from_environ
    sts: Callable[[AwsAccount], Any] = sts.sts_client
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.time


def under_github(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job (or act)."""
    return environ.get("GITHUB_ACTIONS") == "true"


@dataclass(frozen=True)
class AwsResult:
    """Role credentials; shown only when they were not exported to ``$GITHUB_ENV``."""

    environment: str
    region: str
    credentials: sts.Credentials
    exported_to: str | None = None

    def variables(self) -> dict[str, str]:
        """The environment variables the AWS SDKs and CLI read."""
        return {"AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
                "AWS_SESSION_TOKEN": self.credentials.session_token,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def _about(self) -> dict[str, str]:
        return {"environment": self.environment, "account": self.credentials.account,
                "assumed_role_arn": self.credentials.assumed_role_arn,
                "expiration": self.credentials.expiration.isoformat()}

    def to_text(self) -> str:
        """Under GitHub a sentence without secrets; locally ``export`` lines for ``eval``."""
        c = self.credentials
        if self.exported_to:
            return (f"AWS credentials for {c.assumed_role_arn} (account {c.account}) exported "
                    f"to {self.exported_to}; they expire at {c.expiration.isoformat()}")
        lines = [f"# {c.assumed_role_arn}, expires {c.expiration.isoformat()}"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.variables().items()]
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON; holds the credentials only when they were not exported."""
        data: dict[str, Any] = self._about()
        if not self.exported_to:
            data["variables"] = self.variables()
        else:
            data["exported_to"] = self.exported_to
        return envelope("auth-aws", data)


def _environment(options: Options) -> Environment:
    config = load_config(options.root, (options.environment,))
    return config.environments[options.environment]


def token_for(audience: str, environ: Mapping[str, str], deps: Deps) -> str:
    """A GitHub OIDC token for ``audience``, masked at once under GitHub, checked for expiry."""
    token = deps.tokens(environ)(audience)
    if under_github(environ):
        github_masks.mask(token, stream=deps.stdout)
    oidc.check_not_expired(oidc.unverified_claims(token), deps.clock())
    return token


def run_aws(options: Options, deps: Deps | None = None) -> AwsResult:
    """Exchange a GitHub OIDC token for the environment's role; export or return the keys."""
    deps = deps or Deps()
    if not 900 <= options.duration <= 43200:
        raise UsageError(f"--duration {options.duration} is out of range",
                         "STS accepts 900 to 43200 seconds (and at most the role's maximum)")
    env = _environment(options)
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block",
                         "add aws: {region, account_id, role_arn}")
    destinations.token_origin([env.aws.endpoint_url], options.environ.get(oidc.REQUEST_URL))
    github = under_github(options.environ)
    github_env = options.environ.get("GITHUB_ENV", "") if github else ""
    if github and not github_env:
        raise ReleaseError("GITHUB_ACTIONS is true but GITHUB_ENV is not set",
                           "credentials are only exported through $GITHUB_ENV; run this as "
                           "a step of a job")
    token = token_for(oidc.AWS_AUDIENCE, options.environ, deps)
    credentials = sts.assume_role(deps.sts(env.aws), sts.AssumeRequest(
        env.aws.role_arn, token, sts.session_name(options.environ), options.duration))
    if github:
        github_masks.mask(*credentials.secrets, stream=deps.stdout)
    sts.check_account(credentials, env.aws, env.path)
    result = AwsResult(env.name, env.aws.region, credentials)
    if github:
        github_masks.export_env(Path(github_env), result.variables())
        result = AwsResult(env.name, env.aws.region, credentials, "$GITHUB_ENV")
    return result


@dataclass(frozen=True)
class AzureOptions:
    """Which environment's Azure identity to use."""

    root: Path
    environment: str
    environ: Mapping[str, str]


@dataclass(frozen=True)
class AzureResult:
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


def run_azure(options: AzureOptions, deps: azure.Deps | None = None) -> AzureResult:
    """Get the Entra ID token; with an acr registry, log docker in to it."""
    env = load_config(options.root, (options.environment,)).environments[options.environment]
    done = azure.sign_in(env, options.environ, deps or azure.Deps())
    assert env.azure is not None  # noqa: S101 - sign_in checked
    return AzureResult(env.name, env.azure.tenant_id, env.azure.client_id,
                       done.token.expires_on, done.registry)


def register(sub: Any) -> None:
    """Add ``auth aws`` and ``auth azure`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "auth", help="short-lived cloud credentials from GitHub OIDC",
        description="Exchange the job's GitHub OIDC token for cloud credentials. Under GitHub "
                    "Actions they are masked and exported to $GITHUB_ENV; locally printed.")
    clouds = parser.add_subparsers(dest="cloud", metavar="CLOUD", required=True)
    aws = clouds.add_parser(
        "aws", help="assume the environment's IAM role (AssumeRoleWithWebIdentity)",
        description="Request a GitHub OIDC token (audience sts.amazonaws.com), assume "
                    "aws.role_arn of the environment with it, and check the account.")
    aws.add_argument("--env", required=True, metavar="NAME", help="environment name")
    aws.add_argument("--duration", type=int, default=sts.DEFAULT_DURATION, metavar="SECONDS",
                     help=f"session length (default: {sts.DEFAULT_DURATION})")
    aws.set_defaults(handler=lambda args: run_aws(Options(
        args.root, args.env, args.duration, args.environ)))
    azure_parser = clouds.add_parser(
        "azure", help="Entra ID token and Azure Container Registry login",
        description="Request a GitHub OIDC token (audience api://AzureADTokenExchange), "
                    "exchange it for an Entra ID token, and log docker into the ACR registry.")
    azure_parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    azure_parser.set_defaults(handler=lambda args: run_azure(AzureOptions(
        args.root, args.env, args.environ)))

