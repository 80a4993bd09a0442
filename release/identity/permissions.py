"""What an environment's role may do: exactly the calls the release makes
(``release/adapters/aws``), scoped to the environment's resources wherever the API allows
resource-level permissions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from release.identity.trust import literal

# Secrets Manager ends a secret's ARN with '-' and six random alphanumeric characters.
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")

ECR_PUSH = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
            "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
            "ecr:UploadLayerPart")
LAMBDA_DEPLOY = ("lambda:CreateAlias", "lambda:GetAlias", "lambda:GetFunction",
                 "lambda:GetFunctionConfiguration", "lambda:GetProvisionedConcurrencyConfig",
                 "lambda:ListTags", "lambda:ListVersionsByFunction", "lambda:PublishVersion",
                 "lambda:TagResource",
                 "lambda:UpdateAlias", "lambda:UpdateFunctionCode",
                 "lambda:UpdateFunctionConfiguration")


@dataclass(frozen=True)
class EcsService:
    """An ECS service the release updates, and the roles its task definitions pass."""

    cluster: str
    service: str
    family: str
    roles: tuple[str, ...] = ()
    log_group: str = ""  # the awslogs group its tasks write to ("": none known)
    run_task: bool = False  # a one-off task gate (``ecs.deployment.run_task``) runs
    hook_roles: tuple[str, ...] = ()  # roles ECS assumes to call its lifecycle hooks


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
    secrets: tuple[str, ...] = ()  # Secrets Manager ARNs of build secrets, as configured
    parameters: tuple[str, ...] = ()  # SSM parameter names of build secrets
    invoked_functions: tuple[str, ...] = ()  # smoke-invoked before they take traffic
    alarms: tuple[str, ...] = ()  # CloudWatch alarm names a gate reads


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


def _check_literal(res: Resources) -> None:
    """Every configured name that goes into an ARN below is literal."""
    named = [("the partition", res.partition), ("the region", res.region),
             ("the account id", res.account_id),
             *(("the ECR repository", arn) for arn in res.ecr_repositories),
             *(("the Lambda function", name) for name in res.functions),
             *(("the CloudWatch alarm", name) for name in res.alarms),
             *(("the state machine", name) for name in res.state_machines)]
    for service in res.ecs:
        named += [("the ECS cluster", service.cluster), ("the ECS service", service.service),
                  ("the task definition family", service.family),
                  *(("the role passed to ECS", role)
                    for role in (*service.roles, *service.hook_roles))]
        if service.log_group:
            named.append(("the log group", service.log_group))
    for bucket, key in res.s3_objects:
        named += [("the S3 bucket", bucket), ("the S3 key", key)]
    named += [*(("the build secret", arn) for arn in res.secrets),
              *(("the SSM parameter", name) for name in res.parameters)]
    for what, name in named:
        literal(what, name)


def secret_resource(arn: str) -> str:
    """The IAM resource of a Secrets Manager secret configured by ``arn``: the ARN itself when
    it ends in the secret's random suffix, else the ARN and ``-??????``.

    The ``??????`` is AWS's documented form for a secret's six random characters (Secrets
    Manager user guide, "Limiting access to specific secrets"): it matches exactly six, so
    unlike ``*`` it never matches another secret whose name only starts the same way. It is
    added here, after ``literal`` checked the configured ARN, never taken from config.
    """
    return arn if _SECRET_SUFFIX.search(arn.rsplit(":", 1)[-1]) else f"{arn}-??????"


def parameter_resource(res: Resources, name: str) -> str:
    """``arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`` (``/a/b`` without a double slash);
    a parameter given by its ARN is that ARN."""
    if name.startswith("arn:"):
        return name
    return _arn(res, "ssm", f"parameter/{name.removeprefix('/')}")


def permissions_policy(res: Resources) -> dict[str, Any]:
    """The calls a release makes for these resources, and nothing else."""
    _check_literal(res)
    out: list[dict[str, Any]] = []
    if res.ecr_repositories:
        # GetAuthorizationToken has no resource-level permissions: "*" is the only form.
        out.append(_statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))
        out.append(_statement("EcrPushServiceImages", ECR_PUSH, list(res.ecr_repositories)))
    if res.ecs:
        out += _ecs_statements(res)
    if res.functions:
        arns = [_arn(res, "lambda", f"function:{name}") for name in res.functions]
        out.append(_statement("LambdaDeployImages", LAMBDA_DEPLOY,
                              arns + [f"{arn}:*" for arn in arns]))
    if res.invoked_functions:
        # A smoke invoke calls the new version (FUNCTION:VERSION), never the unqualified name.
        out.append(_statement("LambdaSmokeInvokeVersions", ["lambda:InvokeFunction"],
                              [_arn(res, "lambda", f"function:{name}:*")
                               for name in res.invoked_functions]))
    if res.alarms:
        out.append(_statement("CloudWatchReadGateAlarms", ["cloudwatch:DescribeAlarms"],
                              [_arn(res, "cloudwatch", f"alarm:{name}") for name in res.alarms]))
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
    # Build secrets are read at build time with this role (release/adapters/build_secrets.py).
    if res.secrets:
        out.append(_statement("ReadBuildSecrets", ["secretsmanager:GetSecretValue"],
                              [secret_resource(arn) for arn in res.secrets]))
    if res.parameters:
        out.append(_statement("ReadBuildSecretParameters", ["ssm:GetParameter"],
                              [parameter_resource(res, name) for name in res.parameters]))
    return {"Version": "2012-10-17", "Statement": out}


def _ecs_statements(res: Resources) -> list[dict[str, Any]]:
    """Task definitions, the services' rollouts (service deployments), their tasks and the
    lookups of a service's URL (load balancer rules, task network interfaces)."""
    clusters = sorted({_arn(res, "ecs", f"cluster/{s.cluster}") for s in res.ecs})
    out = [_statement("EcsTaskDefinitionsNoResourceScope",
                      ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
                       "ecs:RegisterTaskDefinition"], ["*"]),
           _statement("EcsTagTaskDefinitions", ["ecs:TagResource"],
                      [_arn(res, "ecs", f"task-definition/{s.family}:*") for s in res.ecs]),
           _statement("EcsUpdateServices", ["ecs:DescribeServices", "ecs:UpdateService",
                                            "ecs:ListServiceDeployments"],
                      [_arn(res, "ecs", f"service/{s.cluster}/{s.service}") for s in res.ecs]),
           _statement("EcsFollowServiceDeployments",
                      ["ecs:ContinueServiceDeployment", "ecs:DescribeServiceDeployments",
                       "ecs:StopServiceDeployment"],
                      [_arn(res, "ecs", f"service-deployment/{s.cluster}/{s.service}/*")
                       for s in res.ecs]),
           _statement("EcsReadTasks", ["ecs:DescribeTasks", "ecs:StopTask"],
                      [_arn(res, "ecs", f"task/{s.cluster}/*") for s in res.ecs]),
           # `status` reads the other services of the clusters, to report the orphans.
           _statement("EcsReadClusterServices", ["ecs:DescribeServices"],
                      [_arn(res, "ecs", f"service/{s.cluster}/*") for s in res.ecs]),
           # ListServices has no resource type, ListTasks only the container instance (which a
           # service's task listing does not name): the cluster condition narrows both.
           _statement("EcsListInClustersNoResourceScope", ["ecs:ListServices", "ecs:ListTasks"],
                      ["*"],
                      {"ArnEquals": {"ecs:cluster": clusters if len(clusters) > 1
                                     else clusters[0]}}),
           # The service's URL: Describe* of ELBv2 and EC2 have no resource-level permissions.
           _statement("ServiceAddressNoResourceScope",
                      ["ec2:DescribeNetworkInterfaces",
                       "elasticloadbalancing:DescribeListeners",
                       "elasticloadbalancing:DescribeLoadBalancers",
                       "elasticloadbalancing:DescribeRules",
                       "elasticloadbalancing:DescribeTargetGroups"], ["*"])]
    gated = [s for s in res.ecs if s.run_task]
    if gated:
        out.append(_statement("EcsRunGateTasks", ["ecs:RunTask"],
                              [_arn(res, "ecs", f"task-definition/{s.family}:*") for s in gated],
                              {"ArnEquals": {"ecs:cluster": sorted(
                                  {_arn(res, "ecs", f"cluster/{s.cluster}") for s in gated})}}))
    groups = sorted({s.log_group for s in res.ecs if s.log_group})
    if groups:
        out.append(_statement("ReadFailedTaskLogs", ["logs:GetLogEvents"],
                              [_arn(res, "logs", f"log-group:{g}:log-stream:*")
                               for g in groups]))
    return out + _pass_roles(res)


def _pass_roles(res: Resources) -> list[dict[str, Any]]:
    """iam:PassRole for the roles the services hand on, each only to the service it is for."""
    out = []
    roles = sorted({role for s in res.ecs for role in s.roles})
    if roles:
        out.append(_statement("PassTaskRolesToEcs", ["iam:PassRole"], roles,
                              {"StringEquals": {"iam:PassedToService":
                                                "ecs-tasks.amazonaws.com"}}))
    hooks = sorted({role for s in res.ecs for role in s.hook_roles})
    if hooks:
        # UpdateService hands ECS (not its tasks) the role that invokes the hook functions.
        out.append(_statement("PassHookRolesToEcs", ["iam:PassRole"], hooks,
                              {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}}))
    return out
