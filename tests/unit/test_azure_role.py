"""`release azure role`: the Key Vault role each container app's identity needs, from config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.cli import main
from release.commands import azure as azure_role
from release.config.model import (
    AzureAccount,
    AzureAppDeployment,
    Environment,
    Registry,
    Service,
    ServiceDeployment,
)

ROOT = Path(__file__).resolve().parents[2]
SUB = "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"
USER_ID = (f"/subscriptions/{SUB}/resourceGroups/rg-batch/providers/"
           "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch")


def env_with(**apps: AzureAppDeployment) -> Environment:
    deployments = {
        name: ServiceDeployment(service=Service(name=name, context=".", dockerfile="Dockerfile",
                                                repository=name, platform="linux/amd64"),
                                azure_container_app=app)
        for name, app in apps.items()}
    return Environment(name="dev", path=Path("environments/dev.yaml"),
                       registry=Registry("acr", "acmebatch.azurecr.io"),
                       deployments=deployments,
                       azure=AzureAccount("t", "c", SUB))


def test_one_assignment_per_app_and_vault() -> None:
    env = env_with(
        detector=AzureAppDeployment("dev-detector", "rg-batch", None, secrets={
            "A": "https://kv-one.vault.azure.net/secrets/a",
            "B": "https://kv-two.vault.azure.net/secrets/b",
            "C": "https://kv-one.vault.azure.net/secrets/c/" + "0" * 32}, identity=USER_ID),
        plain=AzureAppDeployment("dev-plain", "rg-batch", None, environment={"MODE": "x"}))
    got = azure_role.assignments(env)
    assert [(a.vault_name, a.secrets) for a in got] == [
        ("kv-one", ("https://kv-one.vault.azure.net/secrets/a",
                    "https://kv-one.vault.azure.net/secrets/c/" + "0" * 32)),
        ("kv-two", ("https://kv-two.vault.azure.net/secrets/b",))]
    assert f"az identity show --ids {USER_ID} --query principalId" in got[0].command()
    assert got[0].body()["properties"]["roleDefinitionId"].endswith(
        "/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6")


def test_nothing_to_grant_says_so() -> None:
    text = azure_role.Result("dev", ()).to_text()
    assert "no role to assign" in text


def test_the_example_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["azure", "role", "--env", "dev", "--root", str(ROOT)], environ={}) == 0
    text = capsys.readouterr().out
    assert "az role assignment create --role 'Key Vault Secrets User'" in text
    assert ("az containerapp show -n dev-batch-detector -g rg-batch-detector-dev "
            "--query identity.principalId -o tsv") in text
    assert "--scope \"$(az keyvault show --name kv-batch-detector-dev --query id -o tsv)\"" \
        in text
    assert main(["azure", "role", "--env", "dev", "--root", str(ROOT), "--output", "json"],
                environ={}) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    (one,) = data["assignments"]
    assert (one["identity"], one["role"]) == ("system", "Key Vault Secrets User")


def test_an_unknown_environment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["azure", "role", "--env", "nope", "--root", str(ROOT)], environ={}) == 2
    assert "ERROR" in capsys.readouterr().err
