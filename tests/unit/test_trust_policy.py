"""`release iam trust-policy`: an exact trust policy and least-privilege permissions, the
workflow+ref binding through the repository's OIDC subject customisation, and the
environment protection, as gh api calls."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from release.cli import main
from release.commands import iam
from release.config import load_config
from release.config.model import BuildSecret
from release.errors import ConfigError, UsageError
from release.identity import github_settings, permissions, trust

REPO = Path(__file__).resolve().parents[2]
# The Service Authorization Reference lists no resource type for these (ecs:ListTasks only
# the container instance, which a service's task listing does not name: a cluster condition
# narrows them instead).
NO_RESOURCE_SCOPE = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition",
                     "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition", "ecs:ListServices",
                     "ecs:ListTasks",
                     "ec2:DescribeNetworkInterfaces", "elasticloadbalancing:DescribeListeners",
                     "elasticloadbalancing:DescribeLoadBalancers",
                     "elasticloadbalancing:DescribeRules",
                     "elasticloadbalancing:DescribeTargetGroups"}


def test_trust_policy_admits_exactly_one_repository_and_environment() -> None:
    doc = trust.trust_policy("aws", "123456789012", "acme/services", "prod")
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
    assert trust.valid_repository(repository) is valid


def _dev() -> dict[str, Any]:
    config = load_config(REPO, ("dev",))
    return permissions.permissions_policy(iam.resources(config, config.environments["dev"]))


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
                                                        "ecs:ListServiceDeployments",
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
    empty = permissions.permissions_policy(
        permissions.Resources("aws", "eu-west-1", "123456789012"))
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


# --- the workflow+ref binding -------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"
DEPLOY = "acme/shop/.github/workflows/deploy.yml"

BINDINGS: list[tuple[str, str | None, str | None, tuple[str, ...], str, str]] = [
    # id, --workflow, --ref, include_claim_keys, sub, deployment branch ref
    ("environment only (the default)", None, None, ("repo", "context"),
     "repo:acme/shop:environment:prod", "refs/heads/main"),
    ("workflow file and ref", ".github/workflows/deploy.yml", "refs/heads/main",
     ("repo", "context", "job_workflow_ref"),
     f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/heads/main",
     "refs/heads/main"),
    ("bare file name, ref defaults to main", "deploy.yml", None,
     ("repo", "context", "job_workflow_ref"),
     f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/heads/main",
     "refs/heads/main"),
    ("workflow file on a release branch", ".github/workflows/deploy.yml", "refs/heads/release",
     ("repo", "context", "job_workflow_ref"),
     f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/heads/release",
     "refs/heads/release"),
    ("whole job_workflow_ref of this repository", f"{DEPLOY}@refs/tags/v2", None,
     ("repo", "context", "job_workflow_ref"),
     f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/tags/v2",
     "refs/tags/v2"),
    ("ref only", None, "refs/heads/main", ("repo", "context", "ref"),
     "repo:acme/shop:environment:prod:ref:refs/heads/main", "refs/heads/main"),
    ("another repository's workflow pinned by SHA, and the caller's ref",
     f"acme/tools/.github/workflows/deploy.yml@{SHA}", "refs/heads/main",
     ("repo", "context", "ref", "job_workflow_ref"),
     "repo:acme/shop:environment:prod:ref:refs/heads/main:job_workflow_ref:"
     f"acme/tools/.github/workflows/deploy.yml@{SHA}", "refs/heads/main"),
    ("another repository's workflow, no ref: the branch is not pinned",
     f"acme/tools/.github/workflows/deploy.yml@{SHA}", None,
     ("repo", "context", "job_workflow_ref"),
     f"repo:acme/shop:environment:prod:job_workflow_ref:acme/tools/.github/workflows/"
     f"deploy.yml@{SHA}", "refs/heads/main"),
]


@pytest.mark.parametrize(("workflow", "ref", "keys", "sub", "deployment_ref"),
                         [b[1:] for b in BINDINGS], ids=[b[0] for b in BINDINGS])
def test_binding_gives_githubs_customised_subject(
        workflow: str | None, ref: str | None, keys: tuple[str, ...], sub: str,
        deployment_ref: str) -> None:
    binding = trust.bind("acme/shop", "prod", workflow, ref)
    assert binding.claim_keys == keys
    assert binding.subject == sub
    assert binding.customized is (keys != ("repo", "context"))
    assert binding.deployment_ref == deployment_ref


def test_githubs_documented_example_subject() -> None:
    """The subject GitHub's OIDC reference shows for the claim keys repo, context and
    job_workflow_ref (its example of requiring a reusable workflow and other claims)."""
    binding = trust.bind("octo-org/octo-repo", "prod",
                            "octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main")
    assert binding.subject == ("repo:octo-org/octo-repo:environment:prod:job_workflow_ref:"
                               "octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main")


@pytest.mark.parametrize(("workflow", "ref", "says"), [
    (None, "main", "is not a full branch or tag ref"),
    (None, "refs/heads/*", "is not a full branch or tag ref"),
    (None, "refs/heads/rel?", "is not a full branch or tag ref"),
    (None, "refs/pull/1/merge", "is not a full branch or tag ref"),
    ("ci/deploy.yml", None, "is neither a workflow file"),
    (".github/workflows/*.yml", None, "is neither a workflow file"),
    (DEPLOY, None, "is neither a workflow file"),  # a job_workflow_ref has @REF
    (f"{DEPLOY}@main", None, "is neither a workflow file"),
    (f"{DEPLOY}@refs/heads/a", "refs/heads/b", "runs at refs/heads/a but --ref says"),
])
def test_binding_refuses_what_is_not_literal_and_exact(
        workflow: str | None, ref: str | None, says: str) -> None:
    with pytest.raises(ValueError, match=r"^--") as caught:
        trust.bind("acme/shop", "prod", workflow, ref)
    assert says in str(caught.value)


def test_bound_trust_policy_is_one_exact_string_equals() -> None:
    binding = trust.bind("acme/shop", "prod", ".github/workflows/deploy.yml",
                            "refs/heads/main")
    doc = trust.trust_policy("aws", "123456789012", "acme/shop", "prod", binding=binding)
    assert doc["Statement"][0]["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub":
            f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/heads/main"}}
    assert "StringLike" not in json.dumps(doc)
    assert "*" not in json.dumps(doc)


def test_subject_customisation_call() -> None:
    call = github_settings.subject_customization("acme/shop",
                                                 ("repo", "context", "job_workflow_ref"))
    assert (call.method, call.path) == ("PUT", "repos/acme/shop/actions/oidc/customization/sub")
    assert call.body == {"use_default": False,
                         "include_claim_keys": ["repo", "context", "job_workflow_ref"]}
    assert call.command() == (
        "gh api --method PUT repos/acme/shop/actions/oidc/customization/sub "
        "-F use_default=false -f 'include_claim_keys[]=repo' "
        "-f 'include_claim_keys[]=context' -f 'include_claim_keys[]=job_workflow_ref'")
    assert github_settings.default_subject("acme/shop").command() == (
        "gh api --method PUT repos/acme/shop/actions/oidc/customization/sub -F use_default=true")


# --- environment protection ----------------------------------------------------------------

BRANCHES_ONLY = {"deployment_branch_policy": {"protected_branches": False,
                                              "custom_branch_policies": True}}


def test_protection_of_a_dev_environment_is_deployment_branches_only() -> None:
    put, post = github_settings.environment_protection(trust.bind("acme/shop", "dev"))
    assert (put.method, put.path, put.body) == ("PUT", "repos/acme/shop/environments/dev",
                                                BRANCHES_ONLY)
    assert put.command() == (
        "gh api --method PUT repos/acme/shop/environments/dev --input - <<'EOF'\n"
        '{"deployment_branch_policy": {"protected_branches": false, '
        '"custom_branch_policies": true}}\nEOF')
    assert (post.method, post.path, post.body) == (
        "POST", "repos/acme/shop/environments/dev/deployment-branch-policies",
        {"name": "main", "type": "branch"})
    assert post.command() == ("gh api --method POST repos/acme/shop/environments/dev/"
                              "deployment-branch-policies -f name=main -f type=branch")


def test_protection_follows_the_bound_ref() -> None:
    _, post = github_settings.environment_protection(
        trust.bind("acme/shop", "dev", None, "refs/tags/v1.2"))
    assert post.body == {"name": "v1.2", "type": "tag"}
    _, post = github_settings.environment_protection(
        trust.bind("acme/shop", "dev", "deploy.yml", "refs/heads/release/2024"))
    assert post.body == {"name": "release/2024", "type": "branch"}


def test_production_gets_reviewers_looked_up_by_name() -> None:
    reviewers = (github_settings.Reviewer.parse("acme/release-approvers"),
                 github_settings.Reviewer.parse("alice"))
    put, _ = github_settings.environment_protection(trust.bind("acme/shop", "prod"), reviewers)
    assert put.body == {**BRANCHES_ONLY, "prevent_self_review": True, "reviewers": [
        {"type": "Team", "id": "<id of team acme/release-approvers>"},
        {"type": "User", "id": "<id of user alice>"}]}
    assert put.command() == (
        "gh api --method PUT repos/acme/shop/environments/prod --input - <<EOF\n"
        '{"deployment_branch_policy": {"protected_branches": false, '
        '"custom_branch_policies": true}, "reviewers": [{"type": "Team", "id": '
        "$(gh api orgs/acme/teams/release-approvers --jq .id)}, "
        '{"type": "User", "id": $(gh api users/alice --jq .id)}], '
        '"prevent_self_review": true}\nEOF')


def test_production_without_reviewers_shows_a_team_placeholder() -> None:
    put, _ = github_settings.environment_protection(trust.bind("acme/shop", "production"))
    assert put.body["reviewers"] == [{"type": "Team", "id": "<id of team acme/TEAM>"}]
    assert "$(gh api orgs/acme/teams/TEAM --jq .id)" in put.command()
    assert "replace TEAM" in put.purpose


@pytest.mark.parametrize(("environment", "production"), [
    ("prod", True), ("production", True), ("prod-eu", True), ("production-2", True),
    ("PROD", True), ("dev", False), ("staging", False), ("preprod", False),
    ("products", False), ("prod2", False), ("local", False),
])
def test_which_environments_are_production(environment: str, production: bool) -> None:
    assert github_settings.production_like(environment) is production
    binding = trust.bind("acme/shop", environment)
    assert ("reviewers" in github_settings.environment_protection(binding)[0].body) is production


@pytest.mark.parametrize("name", ["acme/", "-alice", "a b", "acme/team/x", "$(id)"])
def test_reviewer_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="is neither ORG/TEAM-SLUG"):
        github_settings.Reviewer.parse(name)


# --- no wildcard resource from config ------------------------------------------------------

BASE = permissions.Resources("aws", "eu-west-1", "123456789012")
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012"
ECS = permissions.EcsService("prod", "web", "prod-web", ("arn:aws:iam::123456789012:role/r",))


@pytest.mark.parametrize(("resources", "what"), [
    (dataclasses.replace(BASE, functions=("prod-*",)), "the Lambda function 'prod-*'"),
    (dataclasses.replace(BASE, state_machines=("prod-?",)), "the state machine 'prod-?'"),
    (dataclasses.replace(BASE, ecr_repositories=(
        "arn:aws:ecr:eu-west-1:123456789012:repository/*",)), "the ECR repository"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(ECS, cluster="*"),)),
     "the ECS cluster '*'"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(ECS, service="web*"),)),
     "the ECS service 'web*'"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(ECS, family="prod-*"),)),
     "the task definition family 'prod-*'"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(
        ECS, roles=("arn:aws:iam::123456789012:role/*",)),)), "the role passed to ECS"),
    (dataclasses.replace(BASE, s3_objects=(("bucket-*", "k"),)), "the S3 bucket 'bucket-*'"),
    (dataclasses.replace(BASE, s3_objects=(("bucket", "models/*/x"),)),
     "the S3 key 'models/*/x'"),
    (dataclasses.replace(BASE, account_id="*"), "the account id '*'"),
    (dataclasses.replace(BASE, alarms=("prod-*",)), "the CloudWatch alarm 'prod-*'"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(
        ECS, hook_roles=("arn:aws:iam::123456789012:role/*",)),)), "the role passed to ECS"),
    (dataclasses.replace(BASE, ecs=(dataclasses.replace(ECS, log_group="/ecs/*"),)),
     "the log group '/ecs/*'"),
    (dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:ci/*",)), "the build secret"),
    (dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:ci/hub-??????",)),
     "the build secret"),
    (dataclasses.replace(BASE, parameters=("/ci/*",)), "the SSM parameter '/ci/*'"),
])
def test_a_wildcard_in_a_configured_name_is_refused(resources: permissions.Resources,
                                                     what: str) -> None:
    with pytest.raises(UsageError) as caught:
        permissions.permissions_policy(resources)
    assert caught.value.message.startswith(what)
    assert "must be literal" in caught.value.message
    assert caught.value.exit_code == 2


def test_the_literal_names_pass() -> None:
    doc = permissions.permissions_policy(dataclasses.replace(BASE, ecs=(ECS,)))
    assert [s["Sid"] for s in doc["Statement"]] == [
        "EcsTaskDefinitionsNoResourceScope", "EcsTagTaskDefinitions", "EcsUpdateServices",
        "EcsFollowServiceDeployments", "EcsReadTasks", "EcsReadClusterServices",
        "EcsListInClustersNoResourceScope",
        "ServiceAddressNoResourceScope", "PassTaskRolesToEcs"]


# --- build secrets read from AWS, and the Lambda image check -------------------------------

SECRETS: list[tuple[str, Any, dict[str, Any]]] = [
    # id, resources, the build secret statements expected
    ("no build secret read from AWS", BASE, {}),
    ("a whole ARN is granted as configured",
     dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:ci/hub-token-AbCdEf",)),
     {"ReadBuildSecrets": f"{SECRET}:secret:ci/hub-token-AbCdEf"}),
    ("an ARN without its random suffix matches exactly six more characters",
     dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:ci/hub-token",)),
     {"ReadBuildSecrets": f"{SECRET}:secret:ci/hub-token-??????"}),
    ("a name ending in five characters is not a suffix",
     dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:ci/hub-token-AbCdE",)),
     {"ReadBuildSecrets": f"{SECRET}:secret:ci/hub-token-AbCdE-??????"}),
    ("several secrets, each exactly",
     dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:b-123456", f"{SECRET}:secret:a")),
     {"ReadBuildSecrets": [f"{SECRET}:secret:a-??????", f"{SECRET}:secret:b-123456"]}),
    ("an SSM name with a leading slash joins without a double slash",
     dataclasses.replace(BASE, parameters=("/ci/model-key",)),
     {"ReadBuildSecretParameters":
      "arn:aws:ssm:eu-west-1:123456789012:parameter/ci/model-key"}),
    ("an SSM name without a leading slash",
     dataclasses.replace(BASE, parameters=("model-key",)),
     {"ReadBuildSecretParameters": "arn:aws:ssm:eu-west-1:123456789012:parameter/model-key"}),
    ("SSM in another partition",
     dataclasses.replace(BASE, partition="aws-cn", region="cn-north-1",
                         parameters=("/ci/a", "/ci/b")),
     {"ReadBuildSecretParameters": ["arn:aws-cn:ssm:cn-north-1:123456789012:parameter/ci/a",
                                    "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/ci/b"]}),
    ("both kinds",
     dataclasses.replace(BASE, secrets=(f"{SECRET}:secret:s-AbCdEf",), parameters=("p",)),
     {"ReadBuildSecrets": f"{SECRET}:secret:s-AbCdEf",
      "ReadBuildSecretParameters": "arn:aws:ssm:eu-west-1:123456789012:parameter/p"}),
]


@pytest.mark.parametrize(("resources", "expected"), [c[1:] for c in SECRETS],
                         ids=[c[0] for c in SECRETS])
def test_build_secrets_are_granted_exactly(resources: permissions.Resources,
                                           expected: dict[str, Any]) -> None:
    actions = {"ReadBuildSecrets": ["secretsmanager:GetSecretValue"],
               "ReadBuildSecretParameters": ["ssm:GetParameter"]}
    statements = {s["Sid"]: s for s in permissions.permissions_policy(resources)["Statement"]
                  if s["Sid"] in actions}
    assert {sid: s["Resource"] for sid, s in statements.items()} == expected
    for sid, statement in statements.items():
        assert statement["Action"] == actions[sid]
        assert "*" not in json.dumps(statement)


def _with_build_secrets(**secrets: tuple[BuildSecret, ...]) -> Any:
    """The dev config with these build secrets on the named services."""
    config = load_config(REPO, ("dev",))
    env = config.environments["dev"]
    deployments = dict(env.deployments)
    for name, chosen in secrets.items():
        dep = deployments[name]
        deployments[name] = dataclasses.replace(
            dep, service=dataclasses.replace(dep.service, build_secrets=chosen))
    env = dataclasses.replace(env, deployments=deployments)
    return dataclasses.replace(config, environments={"dev": env}), env


def test_resources_read_the_build_secrets_of_the_services_deployed() -> None:
    hub = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:ci/hub-token-AbCdEf"
    config, env = _with_build_secrets(
        autovision=(BuildSecret("pip", env="PIP_TOKEN"), BuildSecret("netrc", file="ci/netrc"),
                    BuildSecret("hub", aws_secret=hub), BuildSecret("key", ssm="/ci/key")),
        quetzal=(BuildSecret("hub", aws_secret=hub), BuildSecret("key", ssm="/ci/key"),
                 BuildSecret("other", ssm="ci/other")))
    found = iam.resources(config, env)
    assert found.secrets == (hub,)
    assert found.parameters == ("/ci/key", "ci/other")
    sids = {s["Sid"]: s for s in permissions.permissions_policy(found)["Statement"]}
    assert sids["ReadBuildSecrets"]["Resource"] == hub
    assert sids["ReadBuildSecretParameters"]["Resource"] == [
        "arn:aws:ssm:eu-west-1:111111111111:parameter/ci/key",
        "arn:aws:ssm:eu-west-1:111111111111:parameter/ci/other"]


def test_env_and_file_build_secrets_need_no_permission() -> None:
    config, env = _with_build_secrets(
        autovision=(BuildSecret("pip", env="PIP_TOKEN"), BuildSecret("netrc", file="ci/n")))
    found = iam.resources(config, env)
    assert (found.secrets, found.parameters) == ((), ())
    sids = {s["Sid"] for s in permissions.permissions_policy(found)["Statement"]}
    assert not sids & {"ReadBuildSecrets", "ReadBuildSecretParameters"}


def test_the_lambda_image_check_may_read_the_functions_repositories() -> None:
    """The check reads the image's manifest and config blob through the registry API."""
    config = load_config(REPO, ("dev",))
    env = config.environments["dev"]
    found = iam.resources(config, env)
    lambdas = [dep for dep in env.deployments.values() if dep.lambda_ is not None]
    assert lambdas
    reads = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    for dep in lambdas:
        arn = f"arn:aws:ecr:eu-west-1:111111111111:repository/{dep.service.repository}"
        assert arn in found.ecr_repositories
        assert any(reads <= set(s["Action"]) and arn in _list(s["Resource"])
                   for s in permissions.permissions_policy(found)["Statement"]), dep.name


def test_text_notes_kms_when_a_build_secret_is_read_from_aws(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hub = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:ci/hub-token"
    config, _ = _with_build_secrets(autovision=(BuildSecret("hub", aws_secret=hub),))
    monkeypatch.setattr(iam, "load_config", lambda *_: config)
    assert main(["iam", "trust-policy", "--env", "dev", "--repo", "acme/services",
                 "--root", str(REPO)], environ={}) == 0
    out = capsys.readouterr().out
    assert f'"{hub}-??????"' in out
    assert "kms:Decrypt" in out


def test_text_has_no_kms_note_without_aws_build_secrets(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iam", "trust-policy", "--env", "dev", "--repo", "acme/services",
                 "--root", str(REPO)], environ={}) == 0
    assert "kms:Decrypt" not in capsys.readouterr().out


# --- an unknown placeholder in an S3 key ---------------------------------------------------

def _with_s3_key(key: str) -> Any:
    config = load_config(REPO, ("dev",))
    env = config.environments["dev"]
    dep = env.deployments["quetzal"]
    assert dep.s3 is not None
    files = (dataclasses.replace(dep.s3.files[0], key=key), *dep.s3.files[1:])
    dep = dataclasses.replace(dep, s3=dataclasses.replace(dep.s3, files=files))
    env = dataclasses.replace(env, deployments={**env.deployments, "quetzal": dep})
    return dataclasses.replace(config, environments={"dev": env})


def _line_of(text: str) -> int:
    lines = (REPO / "release.yaml").read_text().splitlines()
    quetzal = next(i for i, line in enumerate(lines) if line.strip() == "quetzal:")
    return next(i for i, line in enumerate(lines) if i > quetzal and text in line) + 1


def test_unknown_placeholder_in_an_s3_key_is_a_located_config_error() -> None:
    config = _with_s3_key("models/${nope}/")
    with pytest.raises(ConfigError) as caught:
        iam.resources(config, config.environments["dev"])
    (problem,) = caught.value.problems
    assert problem.file == "release.yaml"
    assert problem.line == _line_of("key: models/")
    assert problem.field == "services.quetzal.s3_files[0].key"
    assert problem.message == "unknown placeholder '${nope}' in an S3 key"
    assert problem.hint == "known placeholders are ${env} and ${service}"


def test_unknown_placeholder_exits_2_not_internal_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = _with_s3_key("models/${nope}/")
    monkeypatch.setattr(iam, "load_config", lambda *_: config)
    code = main(["iam", "trust-policy", "--env", "dev", "--repo", "acme/shop",
                 "--root", str(REPO)], environ={})
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" not in err
    assert f"release.yaml:{_line_of('key: models/')}: services.quetzal.s3_files[0].key: " \
           "unknown placeholder '${nope}' in an S3 key" in err
    assert "hint: known placeholders are ${env} and ${service}" in err


# --- the command -------------------------------------------------------------------------

def _json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["iam", "trust-policy", "--env", "prod", "--repo", "acme/shop",
                 "--root", str(REPO), "--output", "json", *extra], environ={})
    data: dict[str, Any] = json.loads(capsys.readouterr().out)["data"]
    return code, data


def test_command_default_is_environment_only_with_protection(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _json(capsys)
    assert code == 0
    assert data["subject"] == "repo:acme/shop:environment:prod"
    assert data["claim_keys"] == ["repo", "context"]
    assert data["subject_customization"] is None
    assert [(c["method"], c["path"]) for c in data["environment_protection"]] == [
        ("PUT", "repos/acme/shop/environments/prod"),
        ("POST", "repos/acme/shop/environments/prod/deployment-branch-policies")]
    assert data["environment_protection"][1]["body"] == {"name": "main", "type": "branch"}


def test_command_binds_workflow_and_ref(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _json(capsys, "--workflow", ".github/workflows/deploy.yml",
                       "--ref", "refs/heads/main")
    sub = f"repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}@refs/heads/main"
    assert code == 0
    assert data["subject"] == sub
    assert data["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"] == sub
    assert data["job_workflow_ref"] == f"{DEPLOY}@refs/heads/main"
    assert data["subject_customization"]["body"] == {
        "use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}
    assert data["subject_customization"]["path"] == \
        "repos/acme/shop/actions/oidc/customization/sub"


def test_command_text_shows_the_subject_and_every_gh_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["iam", "trust-policy", "--env", "prod", "--repo", "acme/shop", "--root",
                 str(REPO), "--workflow", "deploy.yml", "--reviewer", "acme/approvers"],
                environ={})
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[1] == (f"#   repo:acme/shop:environment:prod:job_workflow_ref:{DEPLOY}"
                        "@refs/heads/main")
    assert ("gh api --method PUT repos/acme/shop/actions/oidc/customization/sub "
            "-F use_default=false -f 'include_claim_keys[]=repo' "
            "-f 'include_claim_keys[]=context' -f 'include_claim_keys[]=job_workflow_ref'"
            ) in lines
    assert "gh api --method PUT repos/acme/shop/environments/prod --input - <<EOF" in lines
    assert ("gh api --method POST repos/acme/shop/environments/prod/"
            "deployment-branch-policies -f name=main -f type=branch") in lines
    assert lines[-1].startswith("gh api --method POST")


def test_command_without_protection(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _json(capsys, "--no-protection")
    assert code == 0
    assert data["environment_protection"] == []


@pytest.mark.parametrize(("extra", "says"), [
    (["--ref", "main"], "is not a full branch or tag ref"),
    (["--workflow", "deploy.sh"], "is neither a workflow file"),
    (["--reviewer", "$(id)"], "is neither ORG/TEAM-SLUG"),
    (["--reviewer", "a", "--reviewer", "b", "--reviewer", "c", "--reviewer", "d",
      "--reviewer", "e", "--reviewer", "f", "--reviewer", "g"], "GitHub takes at most 6"),
])
def test_command_refuses_bad_binding_options(
        extra: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["iam", "trust-policy", "--env", "prod", "--repo", "acme/shop",
                 "--root", str(REPO), *extra], environ={})
    err = capsys.readouterr().err
    assert code == 2
    assert says in err


def test_gate_statements_appear_only_for_the_gates_configured() -> None:
    plain = permissions.permissions_policy(dataclasses.replace(BASE, ecs=(ECS,),
                                                               functions=("api",)))
    sids = {s["Sid"] for s in plain["Statement"]}
    assert not sids & {"EcsRunGateTasks", "ReadFailedTaskLogs", "LambdaSmokeInvokeVersions",
                       "CloudWatchReadGateAlarms"}
    gated = permissions.permissions_policy(dataclasses.replace(
        BASE, ecs=(dataclasses.replace(ECS, run_task=True, log_group="/ecs/prod-web",
                                       hook_roles=("arn:aws:iam::123456789012:role/h",)),),
        functions=("api",), invoked_functions=("api",), alarms=("web-5xx",)))
    by_sid = {s["Sid"]: s for s in gated["Statement"]}
    assert by_sid["EcsRunGateTasks"]["Resource"] == (
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/prod-web:*")
    assert by_sid["EcsRunGateTasks"]["Condition"] == {
        "ArnEquals": {"ecs:cluster": ["arn:aws:ecs:eu-west-1:123456789012:cluster/prod"]}}
    assert by_sid["ReadFailedTaskLogs"]["Resource"] == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/prod-web:log-stream:*")
    assert by_sid["LambdaSmokeInvokeVersions"]["Resource"] == (
        "arn:aws:lambda:eu-west-1:123456789012:function:api:*")
    assert by_sid["CloudWatchReadGateAlarms"]["Resource"] == (
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-5xx")
    assert by_sid["PassHookRolesToEcs"]["Resource"] == "arn:aws:iam::123456789012:role/h"
    assert by_sid["PassHookRolesToEcs"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}}
    assert "PassHookRolesToEcs" not in sids
