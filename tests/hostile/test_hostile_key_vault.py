"""A container app's environment, Key Vault secrets and identity, as a hostile branch writes them.

``azure_container_app.secrets`` takes only Key Vault secret URLs: a value that is not one is
most likely the secret itself, so it is refused without being printed. URLs that point
anywhere else (another host, a user or port, a query, control characters) are refused too,
as are plaintext credentials in ``environment``, secret names Azure would refuse or that
collide, and an ``identity`` that is not a user-assigned identity's resource id.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Case, check, ids, run

ENV = "environments/dev.yaml"
APP = "services.batch.azure_container_app"
VAULT = "https://kv-batch.vault.azure.net/secrets/api-key"
PASSWORD = "Pa55-w0rd-kQ7mZ2xR9t"
GHP = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"


def secret_case(name: str, value: str, message: str, *, key: str = "API_KEY",
                secret: str | None = None) -> Case:
    return Case(name, message, file=ENV, field=f"{APP}.secrets.{key}",
                set={ENV: {f"{APP}.secrets.{key}": value}}, secret=secret)


def env_case(name: str, key: str, value: str, message: str) -> Case:
    return Case(name, message, file=ENV, field=f"{APP}.environment.{key}",
                set={ENV: {f"{APP}.environment.{key}": value}}, secret=value)


NOT_VAULT = "is not an https:// Key Vault secret URL"
NOT_HOST = "is not on a Key Vault host"
NOT_PATH = "is not /secrets/<name>"
CASES = [
    # the secret itself where its reference belongs: refused, never printed
    secret_case("plaintext-password", PASSWORD, NOT_VAULT, secret=PASSWORD),
    secret_case("plaintext-github-token", GHP, NOT_VAULT, secret=GHP),
    secret_case("plaintext-url-with-password",
                f"https://app:{PASSWORD}@kv-batch.vault.azure.net/secrets/x",
                "names a user or a port", secret=PASSWORD),
    # somewhere else than Key Vault
    secret_case("http", "http://kv-batch.vault.azure.net/secrets/api-key", NOT_VAULT),
    secret_case("other-host", "https://evil.example.com/secrets/api-key", NOT_HOST),
    secret_case("suffix-lookalike", "https://kv.vault.azure.net.evil.com/secrets/x", NOT_HOST),
    secret_case("suffix-without-vault", "https://vault.azure.net/secrets/api-key", NOT_HOST),
    secret_case("nested-vault-name", "https://a.b.vault.azure.net/secrets/api-key", NOT_HOST),
    secret_case("vault-name-too-short", "https://kv.vault.azure.net/secrets/api-key", NOT_HOST),
    secret_case("vault-name-double-dash", "https://kv--b.vault.azure.net/secrets/x", NOT_HOST),
    secret_case("loopback", "https://127.0.0.1/secrets/api-key", NOT_HOST),
    secret_case("port", "https://kv-batch.vault.azure.net:8443/secrets/x",
                "names a user or a port"),
    secret_case("user", "https://me@kv-batch.vault.azure.net/secrets/x",
                "names a user or a port"),
    secret_case("query", VAULT + "?api-version=7.4", "has a query or a fragment"),
    secret_case("fragment", VAULT + "#x", "has a query or a fragment"),
    secret_case("keys-not-secrets", "https://kv-batch.vault.azure.net/keys/api-key", NOT_PATH),
    secret_case("path-traversal", "https://kv-batch.vault.azure.net/secrets/../keys/k",
                NOT_PATH),
    secret_case("percent-encoded", "https://kv-batch.vault.azure.net/secrets/a%2Fb", NOT_PATH),
    secret_case("trailing-slash", VAULT + "/", NOT_PATH),
    secret_case("bad-version", VAULT + "/latest", NOT_PATH),
    secret_case("wildcard", "https://kv-batch.vault.azure.net/secrets/*", NOT_PATH),
    secret_case("space", VAULT + " x", "holds a control character or a space"),
    secret_case("tab", "https://kv-batch.vault.azure.net/secrets/a\tb",
                "holds a control character or a space"),
    secret_case("newline", VAULT + "\n::warning::forged", "contains the control character"),
    secret_case("bidi-mark", VAULT + "\u202e", "holds a control character or a space"),
    secret_case("zero-width-space", "https://kv-batch.vault.azure.net/secrets/a\u200bb",
                "holds a control character or a space"),
    secret_case("non-ascii-host", "https://kv-b\u00e4tch.vault.azure.net/secrets/x",
                "holds a character that is not ASCII"),
    # secret names Azure would refuse, or two variables on one secret
    secret_case("name-only-underscores", VAULT, "is not 1 to 63 lowercase", key="___"),
    secret_case("name-too-long", VAULT, "is not 1 to 63 lowercase", key="A" * 64),
    Case("names-collide", "maps to the container-app secret 'api-key'", file=ENV,
         field=f"{APP}.secrets.Api_Key",
         set={ENV: {f"{APP}.secrets.API_KEY": VAULT, f"{APP}.secrets.Api_Key": VAULT}}),
    Case("name-with-dash", "is not a valid name here", file=ENV,
         field=f"{APP}.secrets.API-KEY",
         set={ENV: {f"{APP}.secrets": {"API-KEY": VAULT}}}),
    Case("in-environment-and-secrets", "is in both environment and secrets", file=ENV,
         field=f"{APP}.environment.API_KEY",
         set={ENV: {f"{APP}.secrets.API_KEY": VAULT,
                    f"{APP}.environment.API_KEY": "x"}}),
    # plaintext credentials in the app's environment
    env_case("env-db-password", "DB_PASSWORD", PASSWORD, "is named like a secret"),
    env_case("env-github-token-value", "NOTES", GHP, "looks like a GitHub token"),
    env_case("env-control-character", "MODE", "fast\n::error::forged",
             "contains the control character"),
    # the identity that reads the vault
    Case("identity-not-an-id", "is not a valid value here", file=ENV, field=f"{APP}.identity",
         set={ENV: {f"{APP}.identity": "my-identity"}}),
    Case("identity-other-provider", "is not a valid value here", file=ENV,
         field=f"{APP}.identity", set={ENV: {f"{APP}.identity": (
             "/subscriptions/9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24/resourceGroups/rg/providers/"
             "Microsoft.Compute/userAssignedIdentities/id-batch")}}),
    Case("identity-wildcard", "is not the resource id of a user-assigned", file=ENV,
         field=f"{APP}.identity", set={ENV: {f"{APP}.identity": (
             "/subscriptions/*/resourceGroups/rg/providers/"
             "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch")}}),
    # `release azure role` reads the same checked config
    Case("azure-role-refuses-a-bad-reference", NOT_HOST, file=ENV,
         field=f"{APP}.secrets.API_KEY", argv=("azure", "role", "--env", "dev"),
         set={ENV: {f"{APP}.secrets.API_KEY": "https://evil.example.com/secrets/x"}}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_container_app_secrets_are_refused(case: Case, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)


VALID = [
    Case("public-cloud", "", exit=0, set={ENV: {f"{APP}.secrets.API_KEY": VAULT}}),
    Case("with-version", "", exit=0,
         set={ENV: {f"{APP}.secrets.API_KEY": VAULT + "/0123456789abcdef0123456789abcdef"}}),
    Case("china", "", exit=0,
         set={ENV: {f"{APP}.secrets.API_KEY": "https://kv-batch.vault.azure.cn/secrets/k"}}),
    Case("us-government", "", exit=0, set={ENV: {
        f"{APP}.secrets.API_KEY": "https://kv-batch.vault.usgovcloudapi.net/secrets/k"}}),
    Case("user-assigned-identity", "", exit=0, set={ENV: {
        f"{APP}.secrets.API_KEY": VAULT,
        f"{APP}.identity": ("/subscriptions/9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24/"
                            "resourceGroups/rg-batch/providers/Microsoft.ManagedIdentity/"
                            "userAssignedIdentities/id-batch")}}),
    Case("plain-environment", "", exit=0, set={ENV: {f"{APP}.environment.MODEL": "v3"}}),
    # the role assignments are printed from the config alone: no connection, no file outside
    Case("azure-role", "", exit=0, argv=("azure", "role", "--env", "dev"),
         set={ENV: {f"{APP}.secrets.API_KEY": VAULT}}),
]


@pytest.mark.parametrize("case", VALID, ids=ids(VALID))
def test_key_vault_references_are_accepted(case: Case, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
