"""IAM documents for one environment: who may assume the role, and what the role may do.

Pure: data in, policy documents out. The permissions list exactly the calls the release
makes (``release/adapters/aws``), scoped to the environment's resources wherever the API
allows resource-level permissions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
AWS_AUDIENCE = "sts.amazonaws.com"
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")

ECR_PUSH = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
            "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
            "ecr:UploadLayerPart")
LAMBDA_DEPLOY = ("lambda:CreateAlias", "lambda:GetAlias", "lambda:GetFunction",
                 "lambda:GetFunctionConfiguration", "lambda:PublishVersion",
                 "lambda:TagResource", "lambda:UpdateAlias", "lambda:UpdateFunctionCode",
                 "lambda:UpdateFunctionConfiguration")


def valid_repository(repository: str) -> bool:
    """True for ``OWNER/REPO`` as GitHub allows the names."""
    return bool(_REPOSITORY.match(repository))


def subject(repository: str, environment: str) -> str:
    """The ``sub`` claim of a job in a GitHub environment: ``repo:OWNER/REPO:environment:ENV``."""
    return f"repo:{repository}:environment:{environment}"


def trust_policy(partition: str, account_id: str, repository: str, environment: str,
                 issuer_host: str = GITHUB_ISSUER_HOST) -> dict[str, Any]:
    """Admit exactly one repository's jobs in one GitHub environment, with AWS's audience."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": {
                "Federated": f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer_host}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer_host}:aud": AWS_AUDIENCE,
                f"{issuer_host}:sub": subject(repository, environment),
            }},
        }],
    }


@dataclass(frozen=True)
class EcsService:
    """An ECS service the release updates, and the roles its task definitions pass."""

    cluster: str
    service: str
    family: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resources:
    """Everything one environment's release touches in AWS."""

    partition: str
    region: str
    account_id: str
    ecr_repositories: tuple[str, ...] = ()  # full ARNs
    ecs: tuple[EcsService, ...] = ()
    functions: tuple[str, ...] = ()
    state_machines: tuple[str, ...] = ()
    s3_objects: tuple[tuple[str, str], ...] = ()  # (bucket, key or prefix ending in /)


def _arn(res: Resources, service: str, resource: str) -> str:
    return f"arn:{res.partition}:{service}:{res.region}:{res.account_id}:{resource}"


def _statement(sid: str, actions: tuple[str, ...] | list[str], resources: list[str],
               condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                 "Action": sorted(set(actions)),
                                 "Resource": sorted(set(resources)) if len(set(resources)) > 1
                                 else resources[0]}
    if condition:
        statement["Condition"] = condition
    return statement


def permissions_policy(res: Resources) -> dict[str, Any]:
    """The calls a release makes for these resources, and nothing else."""
    out: list[dict[str, Any]] = []
    if res.ecr_repositories:
        # GetAuthorizationToken has no resource-level permissions: "*" is the only form.
        out.append(_statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))
        out.append(_statement("EcrPushServiceImages", ECR_PUSH, list(res.ecr_repositories)))
    if res.ecs:
        out.append(_statement("EcsTaskDefinitionsNoResourceScope",
                              ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
                               "ecs:RegisterTaskDefinition"], ["*"]))
        out.append(_statement("EcsTagTaskDefinitions", ["ecs:TagResource"],
                              [_arn(res, "ecs", f"task-definition/{s.family}:*")
                               for s in res.ecs]))
        out.append(_statement("EcsUpdateServices", ["ecs:DescribeServices", "ecs:UpdateService"],
                              [_arn(res, "ecs", f"service/{s.cluster}/{s.service}")
                               for s in res.ecs]))
        roles = sorted({role for s in res.ecs for role in s.roles})
        if roles:
            out.append(_statement("PassTaskRolesToEcs", ["iam:PassRole"], roles,
                                  {"StringEquals": {"iam:PassedToService":
                                                    "ecs-tasks.amazonaws.com"}}))
    if res.functions:
        arns = [_arn(res, "lambda", f"function:{name}") for name in res.functions]
        out.append(_statement("LambdaDeployImages", LAMBDA_DEPLOY,
                              arns + [f"{arn}:*" for arn in arns]))
    if res.state_machines:
        out.append(_statement("StepFunctionsUpdateDefinitions",
                              ["states:DescribeStateMachine", "states:UpdateStateMachine"],
                              [_arn(res, "states", f"stateMachine:{name}")
                               for name in res.state_machines]))
    if res.s3_objects:
        objects = [f"arn:{res.partition}:s3:::{bucket}/{key}{'*' if key.endswith('/') else ''}"
                   for bucket, key in res.s3_objects]
        out.append(_statement("S3PublishFiles", ["s3:GetObject", "s3:PutObject"], objects))
        # Without ListBucket a HeadObject of a missing key answers 403, not 404.
        buckets = sorted({f"arn:{res.partition}:s3:::{b}" for b, _ in res.s3_objects})
        out.append(_statement("S3TellMissingFromForbidden", ["s3:ListBucket"], buckets))
    return {"Version": "2012-10-17", "Statement": out}
