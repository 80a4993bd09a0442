"""A container app's variables and Key Vault references: names, the PATCH parts, the plan's view."""

from __future__ import annotations

import re
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from release.adapters.azure import container_apps
from release.adapters.azure.container_apps import Running
from release.config import key_vault
from release.config.model import AzureAccount, AzureAppDeployment, Service, ServiceDeployment
from release.engine.targets import Wanted as Want
from release.engine.targets import azure_app
from release.errors import ReleaseError
from release.planning import app_settings

VAULT = "https://kv-batch.vault.azure.net/secrets/api-key"
OTHER = "https://kv-batch.vault.azure.net/secrets/db-password"
USER_ID = ("/subscriptions/9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24/resourceGroups/rg-batch/"
           "providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-batch")


def app(**extra: Any) -> AzureAppDeployment:
    return AzureAppDeployment("batch-detector", "rg-batch", None, **extra)


@pytest.mark.parametrize(("variable", "name"), [
    ("DB_PASSWORD", "db-password"),
    ("API_KEY", "api-key"),
    ("apiKey", "apikey"),
    ("_LEADING", "leading"),
    ("A__B", "a-b"),
    ("TRAILING_", "trailing"),
    ("X9", "x9"),
])
def test_a_variable_maps_to_one_secret_name(variable: str, name: str) -> None:
    assert key_vault.secret_name(variable) == name
    assert key_vault.APP_SECRET_NAME.match(name)


def test_names_azure_refuses_or_that_collide_are_problems() -> None:
    problems = key_vault.name_problems(["___", "A" * 64, "API_KEY", "Api_Key", "OK"])
    assert set(problems) == {"___", "A" * 64, "Api_Key"}
    assert "as API_KEY does" in problems["Api_Key"]


@pytest.mark.parametrize(("url", "vault"), [
    (VAULT, "https://kv-batch.vault.azure.net"),
    ("https://KV-Batch.vault.azure.net/secrets/x", "https://kv-batch.vault.azure.net"),
    ("https://kv-batch.vault.azure.cn/secrets/x", "https://kv-batch.vault.azure.cn"),
    ("https://kv.vault.azure.net/secrets/x", None),
    ("https://kv-batch.vault.azure.net.example.com/secrets/x", None),
    ("https://vault.azure.net/secrets/x", None),
])
def test_the_vault_of_a_url(url: str, vault: str | None) -> None:
    assert key_vault.vault_of(url) == vault


def test_wanted_renders_secret_refs_and_key_vault_secrets() -> None:
    want = app_settings.wanted(app(environment={"MODE": "fast"},
                                   secrets={"API_KEY": VAULT}))
    assert want.variables == {"MODE": {"value": "fast"}, "API_KEY": {"secretRef": "api-key"}}
    assert want.secrets == {"api-key": {"keyVaultUrl": VAULT, "identity": "system"}}
    user = app_settings.wanted(app(secrets={"API_KEY": VAULT}, identity=USER_ID))
    assert user.secrets["api-key"]["identity"] == USER_ID


def test_variables_are_set_by_name_and_the_others_kept() -> None:
    container = {"name": "api", "image": "x", "env": [
        {"name": "KEEP", "value": "1"}, {"name": "API_KEY", "value": "old-plain"}]}
    want = app_settings.wanted(app(environment={"MODE": "fast"}, secrets={"API_KEY": VAULT}))
    got = app_settings.with_variables(container, want)
    assert got["env"] == [{"name": "KEEP", "value": "1"},
                          {"name": "API_KEY", "secretRef": "api-key"},
                          {"name": "MODE", "value": "fast"}]
    assert container["env"][1] == {"name": "API_KEY", "value": "old-plain"}  # not changed


def test_the_secrets_list_carries_the_apps_own_secrets() -> None:
    configuration = {"secrets": [
        {"name": "registry-password"},  # a held value: a GET shows no value
        {"name": "other", "keyVaultUrl": OTHER, "identity": "System"},
        {"name": "api-key", "keyVaultUrl": OTHER, "identity": "system"}]}
    want = app_settings.wanted(app(secrets={"API_KEY": VAULT}))
    assert app_settings.held_values(configuration, want) == ["registry-password"]
    listed = {"registry-password": {"name": "registry-password", "value": "s3cret"}}
    assert app_settings.secrets_list(configuration, want, listed) == [
        {"name": "registry-password", "value": "s3cret"},
        {"name": "other", "keyVaultUrl": OTHER, "identity": "System"},
        {"name": "api-key", "keyVaultUrl": VAULT, "identity": "system"}]
    with pytest.raises(ReleaseError, match="'registry-password' holds a value"):
        app_settings.secrets_list(configuration, want, {})


@pytest.mark.parametrize(("variables", "secrets", "differ"), [
    ({"API_KEY": {"secretRef": "api-key"}},
     {"api-key": {"keyVaultUrl": VAULT, "identity": "System"}}, False),
    ({"API_KEY": {"secretRef": "api-key"}},
     {"api-key": {"keyVaultUrl": OTHER, "identity": "system"}}, True),
    ({"API_KEY": {"secretRef": "api-key"}},
     {"api-key": {"keyVaultUrl": VAULT, "identity": USER_ID}}, True),
    ({"API_KEY": {"value": "plain"}},
     {"api-key": {"keyVaultUrl": VAULT, "identity": "system"}}, True),
    ({}, {"api-key": {"keyVaultUrl": VAULT, "identity": "system"}}, True),
    ({"API_KEY": {"secretRef": "api-key"}}, {}, True),
])
def test_differs(variables: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]],
                 differ: bool) -> None:
    want = app_settings.wanted(app(secrets={"API_KEY": VAULT}))
    assert app_settings.differs(want, variables, secrets) is differ


def test_a_plan_shows_names_and_urls_never_values() -> None:
    want = app_settings.wanted(app(environment={"MODE": "fast"}, secrets={"API_KEY": VAULT}))
    now = {"MODE": {"value": "slow"}, "API_KEY": {"value": "hunter2-plain-secret"},
           "OTHER": {"value": "not ours"}}
    secrets = {"api-key": {}, "unrelated": {"keyVaultUrl": OTHER, "identity": "system"}}
    shown = app_settings.shown(want, now, secrets)
    assert shown == {"environment": {"MODE": "slow", "API_KEY": app_settings.HIDDEN},
                     "secrets": {},
                     "key_vault_secrets": {"api-key": "(a value held by the app)"}}
    desired = app_settings.shown(want, want.variables, want.secrets)
    assert desired == {"environment": {"MODE": "fast"},
                       "secrets": {"API_KEY": "secretref:api-key"},
                       "key_vault_secrets": {"api-key": f"{VAULT} (identity system)"}}


def test_a_credential_set_by_hand_under_a_plain_name_is_not_shown() -> None:
    want = app_settings.wanted(app(environment={"MODE": "fast"}))
    shown = app_settings.shown(want, {"MODE": {"value": "ghp_" + "a1B2" * 9}}, {})
    assert shown["environment"]["MODE"] == app_settings.HIDDEN


@pytest.mark.parametrize(("identity", "configured", "refused"), [
    ({"type": "SystemAssigned"}, None, None),
    ({"type": "SystemAssigned, UserAssigned"}, None, None),
    ({"type": "None"}, None, "no system-assigned identity"),
    ({}, None, "no system-assigned identity"),
    ({"type": "UserAssigned", "userAssignedIdentities": {USER_ID.upper(): {}}}, USER_ID, None),
    ({"type": "SystemAssigned"}, USER_ID, "'id-batch' is not assigned"),
])
def test_the_identity_must_be_on_the_app(identity: dict[str, Any], configured: str | None,
                                         refused: str | None) -> None:
    configured_app = app(secrets={"API_KEY": VAULT}, identity=configured)
    got = app_settings.identity_problem({"identity": identity}, configured_app,
                                        app_settings.wanted(configured_app))
    if refused is None:
        assert got is None
    else:
        assert got is not None
        assert refused in got.message
        assert "az containerapp identity assign -n batch-detector -g rg-batch" in (got.hint or "")


def test_no_identity_is_needed_without_key_vault_secrets() -> None:
    plain = app(environment={"MODE": "fast"})
    assert app_settings.identity_problem({}, plain, app_settings.wanted(plain)) is None


def test_a_revision_suffix_is_new_after_each_revision_and_holds_no_value() -> None:
    secrets = [{"name": "api-key", "keyVaultUrl": VAULT, "identity": "system"},
               {"name": "held", "value": "s3cret"}]
    change = {"image": "img", "secrets": secrets}
    first = app_settings.revision_suffix("app--r1", change)
    assert first == app_settings.revision_suffix("app--r1", change)
    assert first != app_settings.revision_suffix("app--r2", change)
    assert first != app_settings.revision_suffix("app--r1", {**change, "image": "other"})
    assert first == app_settings.revision_suffix("app--r1", {**change, "secrets": [
        secrets[0], {"name": "held", "value": "changed"}]})
    assert re.fullmatch(r"r-[0-9a-f]{10}", first)


def test_the_plan_decides_and_shows_a_reference_change_never_a_value() -> None:
    image = "reg.example/web@sha256:" + "1" * 64
    configured = app(environment={"MODE": "fast"}, secrets={"API_KEY": VAULT})
    dep = ServiceDeployment(service=Service(name="web", context=".", dockerfile="Dockerfile",
                                            repository="web", platform="linux/amd64"),
                            azure_container_app=configured)
    running = Running(image, "web--1", {"MODE": {"value": "fast"},
                                        "API_KEY": {"value": "hunter2-plain-secret"}}, {})
    decision = azure_app.KIND.decide(SimpleNamespace(), dep,  # type: ignore[arg-type]
                                     MappingProxyType({"azure_container_app": running}),
                                     Want(image, "k1"))
    assert decision.step.action == "deploy"
    assert decision.step.reason == "the app's variables or Key Vault secrets differ"
    shown = [d.describe() for d in azure_app.KIND.differences(decision, ())]
    assert any("API_KEY" in line and "secretref:api-key" in line for line in shown), shown
    assert any("api-key" in line and VAULT in line for line in shown), shown
    assert "hunter2" not in "\n".join(shown)
    same = Running(image, "web--2", {"MODE": {"value": "fast"},
                                     "API_KEY": {"secretRef": "api-key"}},
                   {"api-key": {"keyVaultUrl": VAULT, "identity": "System"}})
    again = azure_app.KIND.decide(SimpleNamespace(), dep,  # type: ignore[arg-type]
                                  MappingProxyType({"azure_container_app": same}),
                                  Want(image, "k1"))
    assert again.step.action == "none"


class ScriptedApi:
    """The management API as a script: canned answers, every call recorded (no network)."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.account = AzureAccount("t", "c", "sub")
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        return self.answers[(method, path.rsplit("/", 1)[-1])]


def _resource(secrets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"identity": {"type": "SystemAssigned"}, "properties": {
        "latestRevisionName": "batch-detector--r1",
        "configuration": {"secrets": secrets},
        "template": {"containers": [{"name": "api", "image": "old"}]}}}


def test_held_values_are_carried_through_list_secrets() -> None:
    api = ScriptedApi({("POST", "listSecrets"): {"value": [
        {"name": "registry-password", "value": "s3cret"}]}})
    configured = app(secrets={"API_KEY": VAULT})
    body = container_apps.patch_body(api, configured,  # type: ignore[arg-type]
                                     _resource([{"name": "registry-password"}]), "new")
    assert api.calls == [("POST", "/subscriptions/sub/resourceGroups/rg-batch/providers/"
                                  "Microsoft.App/containerApps/batch-detector/listSecrets")]
    assert body["properties"]["configuration"]["secrets"] == [
        {"name": "registry-password", "value": "s3cret"},
        {"name": "api-key", "keyVaultUrl": VAULT, "identity": "system"}]
    assert "revisionSuffix" not in body["properties"]["template"]  # the image changes


def test_unchanged_references_send_no_secrets_and_list_none() -> None:
    api = ScriptedApi({})
    configured = app(secrets={"API_KEY": VAULT})
    body = container_apps.patch_body(api, configured,  # type: ignore[arg-type]
                                     _resource([{"name": "registry-password"},
                                                {"name": "api-key", "keyVaultUrl": VAULT,
                                                 "identity": "System"}]), "new")
    assert api.calls == []
    assert "configuration" not in body["properties"]
    assert body["properties"]["template"]["containers"][0]["env"] == [
        {"name": "API_KEY", "secretRef": "api-key"}]


def test_an_app_without_settings_gets_the_image_alone() -> None:
    body = container_apps.patch_body(ScriptedApi({}), app(),  # type: ignore[arg-type]
                                     {"properties": {"template": {"containers": [
                                         {"name": "api", "image": "old"}]}}}, "new")
    assert body == {"properties": {"template": {"containers": [
        {"name": "api", "image": "new"}]}}}


def test_a_suffix_the_template_holds_is_replaced_not_reused() -> None:
    resource = _resource([])
    resource["identity"] = {}
    resource["properties"]["template"]["revisionSuffix"] = "v1"
    body = container_apps.patch_body(ScriptedApi({}), app(),  # type: ignore[arg-type]
                                     resource, "new")
    suffix = body["properties"]["template"]["revisionSuffix"]
    assert suffix != "v1"
    assert suffix.startswith("r-")
