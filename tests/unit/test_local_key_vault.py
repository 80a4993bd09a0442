"""The local Key Vault store and the identity checks of the local Container Apps API."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.local.azure import identities, keyvault
from release.local.azure.apps import ApiError

USER = ("/subscriptions/10ca1000-0000-4000-8000-000000000003/resourceGroups/rg/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch")


def test_a_secret_resolves_to_its_current_or_pinned_version(tmp_path: Path) -> None:
    store = tmp_path / "azure" / keyvault.KEY_VAULT_FILE
    first = keyvault.set_secret(store, "kv-batch", "api-key", "one")
    keyvault.set_secret(store, "kv-batch", "api-key", "two")
    url = "https://kv-batch.vault.azure.net/secrets/api-key"
    assert keyvault.resolve(store, url, "system", "api-key") == "two"
    assert keyvault.resolve(store, f"{url}/{first}", "system", "api-key") == "one"
    assert store.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("url", [
    "https://kv-batch.vault.azure.net/secrets/missing",
    "https://kv-other.vault.azure.net/secrets/api-key",
    "https://kv-batch.vault.azure.net/secrets/api-key/" + "0" * 32,
])
def test_a_missing_secret_is_worded_as_azure_words_it(tmp_path: Path, url: str) -> None:
    store = tmp_path / keyvault.KEY_VAULT_FILE
    keyvault.set_secret(store, "kv-batch", "api-key", "one")
    with pytest.raises(keyvault.VaultError, match="unable to fetch secret 'k' using Managed "
                                                  "identity 'system'"):
        keyvault.resolve(store, url, "system", "k")


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/secrets/x", "http://kv-batch.vault.azure.net/secrets/x",
    "https://kv-batch.vault.azure.net.evil.example/secrets/x",
    "https://kv-batch.vault.azure.net/secrets/../x", "file:///etc/passwd",
    "https://kv-batch.vault.azure.net/secrets/x?a=1", "https://u@kv-batch.vault.azure.net/secrets/x",
])
def test_only_key_vault_hosts_are_looked_up(tmp_path: Path, url: str) -> None:
    with pytest.raises(keyvault.VaultError, match="the Key Vault reference"):
        keyvault.resolve(tmp_path / keyvault.KEY_VAULT_FILE, url, "system", "x")


@pytest.mark.parametrize(("vault", "name", "value"), [
    ("KV", "x", "v"), ("kv-batch", "a/b", "v"), ("kv-batch", "x", ""), ("kv-batch", "x", "a\0")])
def test_bad_writes_are_refused(tmp_path: Path, vault: str, name: str, value: str) -> None:
    with pytest.raises(keyvault.VaultError):
        keyvault.set_secret(tmp_path / keyvault.KEY_VAULT_FILE, vault, name, value)


def test_identity_shapes_follow_managed_service_identity() -> None:
    made = identities.identity({"type": "SystemAssigned, UserAssigned",
                                "userAssignedIdentities": {USER: {}}}, {}, "tenant")
    assert made["type"] == "SystemAssigned,UserAssigned"
    assert made["tenantId"] == "tenant"
    assert set(made["userAssignedIdentities"][USER]) == {"principalId", "clientId"}
    again = identities.identity({"type": "SystemAssigned,UserAssigned",
                                 "userAssignedIdentities": {USER.lower(): {}}}, made, "tenant")
    assert again["principalId"] == made["principalId"]
    assert identities.identity(None, made, "t") == made


@pytest.mark.parametrize("given", [
    {"type": "Everything"}, {"type": "UserAssigned"},
    {"type": "SystemAssigned", "userAssignedIdentities": {USER: {}}},
    {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/*": {}}}])
def test_bad_identities_are_refused(given: dict[str, object]) -> None:
    with pytest.raises(ApiError):
        identities.identity(given, {}, "t")


@pytest.mark.parametrize(("secret", "code"), [
    ({"name": "a", "keyVaultUrl": "https://kv-batch.vault.azure.net/secrets/a",
      "identity": USER}, "InvalidParameterValueInContainerTemplate"),
    ({"name": "a", "keyVaultUrl": "https://10.1.2.3/secrets/a", "identity": "system"},
     "ContainerAppSecretKeyVaultUrlInvalid"),
    ({"name": "A_B", "value": "x"}, "InvalidParameterValueInContainerTemplate"),
    ({"name": "a"}, "InvalidParameterValueInContainerTemplate"),
    ({"name": "a", "value": "x", "keyVaultUrl": "https://kv-batch.vault.azure.net/secrets/a"},
     "InvalidParameterValueInContainerTemplate"),
])
def test_bad_secrets_are_refused(secret: dict[str, str], code: str) -> None:
    with pytest.raises(ApiError) as caught:
        identities.check_secrets({"secrets": [secret]}, {"type": "SystemAssigned"})
    assert caught.value.code == code


def test_a_system_reference_needs_a_system_identity() -> None:
    secret = {"name": "a", "keyVaultUrl": "https://kv-batch.vault.azure.net/secrets/a",
              "identity": "system"}
    identities.check_secrets({"secrets": [secret]}, {"type": "SystemAssigned"})
    with pytest.raises(ApiError, match="'system' is not assigned"):
        identities.check_secrets({"secrets": [secret]}, {"type": "None"})
