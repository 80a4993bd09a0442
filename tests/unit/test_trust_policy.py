"""`release iam trust-policy`: an exact trust policy and least-privilege permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release.cli import main
from release.commands import iam
from release.config import load_config
from release.identity import policies

REPO = Path(__file__).resolve().parents[2]
NO_RESOURCE_SCOPE = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition",
                     "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition"}


def test_trust_policy_admits_exactly_one_repository_and_environment() -> None:
    doc = policies.trust_policy("aws", "123456789012", "acme/services", "prod")
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                                   "token.actions.githubusercontent.com"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme/services:environment:prod"}}
    text = json.dumps(doc)
    assert "*" not in text
    assert "ForAllValues" not in text
    assert "StringLike" not in text


@pytest.mark.parametrize(("repository", "valid"), [
    ("acme/services", True), ("Acme-Corp/my.repo_2", True), ("acme", False),
    ("acme/services/extra", False), ("-acme/x", False), ("acme/*", False), ("", False),
])
def test_repository_must_be_owner_slash_repo(repository: str, valid: bool) -> None:
    assert policies.valid_repository(repository) is valid


def _dev() -> dict[str, Any]:
    config = load_config(REPO, ("dev",))
    return policies.permissions_policy(iam.resources(config, config.environments["dev"]))


def _by_sid() -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in _dev()["Statement"]}


def _list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_only_apis_without_resource_scope_get_a_star() -> None:
    for statement in _dev()["Statement"]:
        if "*" in _list(statement["Resource"]):
            assert set(statement["Action"]) <= NO_RESOURCE_SCOPE, statement["Sid"]


def test_permissions_cover_the_calls_of_a_dev_release() -> None:
    sids = _by_sid()
    assert "arn:aws:ecr:eu-west-1:111111111111:repository/coral/restoration" in \
        sids["EcrPushServiceImages"]["Resource"]
    assert "ecr:PutImage" in sids["EcrPushServiceImages"]["Action"]
    assert "arn:aws:ecs:eu-west-1:111111111111:service/dev/autovision" in \
        sids["EcsUpdateServices"]["Resource"]
    assert set(sids["EcsUpdateServices"]["Action"]) == {"ecs:DescribeServices",
                                                        "ecs:UpdateService"}
    assert "arn:aws:iam::111111111111:role/dev-ecs-execution" in \
        sids["PassTaskRolesToEcs"]["Resource"]
    assert sids["PassTaskRolesToEcs"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    functions = sids["LambdaDeployImages"]["Resource"]
    assert "arn:aws:lambda:eu-west-1:111111111111:function:dev-quetzal:*" in functions
    assert {"lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:UpdateAlias",
            "lambda:CreateAlias"} <= set(sids["LambdaDeployImages"]["Action"])
    assert sids["StepFunctionsUpdateDefinitions"]["Resource"] == \
        "arn:aws:states:eu-west-1:111111111111:stateMachine:dev-quetzal"
    assert any(r.startswith("arn:aws:s3:::acme-dev-release-artifacts/models/dev/")
               for r in _list(sids["S3PublishFiles"]["Resource"]))


def test_no_service_no_statement() -> None:
    empty = policies.permissions_policy(policies.Resources("aws", "eu-west-1", "123456789012"))
    assert empty["Statement"] == []


def test_command_prints_both_documents_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["iam", "trust-policy", "--env", "dev", "--repo", "acme/services",
                 "--root", str(REPO), "--output", "json"], environ={})
    data = json.loads(capsys.readouterr().out)["data"]
    assert code == 0
    assert data["subject"] == "repo:acme/services:environment:dev"
    assert data["trust_policy"]["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert data["permissions_policy"]["Statement"]


def test_command_refuses_a_wildcard_repository(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["iam", "trust-policy", "--env", "dev", "--repo", "acme/*",
                 "--root", str(REPO)], environ={})
    assert code == 2
    assert "is not OWNER/REPO" in capsys.readouterr().err


def test_a_service_pushing_to_another_registry_gets_no_ecr_permission() -> None:
    config = load_config(REPO, ("dev",))
    found = iam.resources(config, config.environments["dev"])
    assert any(r.endswith("repository/autovision") for r in found.ecr_repositories)
    assert not any("batch-detector" in r for r in found.ecr_repositories)  # it pushes to ACR
