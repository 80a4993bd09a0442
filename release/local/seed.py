"""Create, in moto, the infrastructure an environment file points at (the local cloud only).

In a real account Terraform or CloudFormation owns these; release never creates them.
Here ``release local up`` and ``release local seed`` make them so that a first
``release deploy --env local`` has services, functions and a state machine to update.
Idempotent: what exists is left alone, so a second seed changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from release.adapters.aws.clients import AwsClients
from release.config.model import (
    AwsAccount,
    Config,
    Environment,
    LambdaDeployment,
    ServiceDeployment,
)
from release.errors import ReleaseError
from release.identity.trust import trust_policy
from release.local.oidc_issuer import CLAIMS_FILE
from release.local.state import LocalState
from release.local.workflow_claims import default_claims
from release.planning import taskdef

INITIAL_TAG = "initial"
_ASSUME = {
    "ecs": {"Service": "ecs-tasks.amazonaws.com"},
    "lambda": {"Service": "lambda.amazonaws.com"},
    "states": {"Service": "states.amazonaws.com"},
}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _ignore_exists(call: Callable[[], Any], *codes: str) -> None:
    try:
        call()
    except Exception as exc:
        if _code(exc) not in codes:
            raise


def _role(iam: Any, name: str, principal: dict[str, str]) -> str:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}
    return _role_with(iam, name, policy)


def _role_with(iam: Any, name: str, policy: dict[str, Any]) -> str:
    _ignore_exists(lambda: iam.create_role(RoleName=name,
                                           AssumeRolePolicyDocument=json.dumps(policy)),
                   "EntityAlreadyExists")
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


@dataclass(frozen=True)
class Trust:
    """Whose OIDC tokens the seeded deploy role admits: an issuer and a repository."""

    issuer_host: str = "127.0.0.1:5002"
    repository: str | None = None  # None: the repository's own (workflow_claims.default_claims)

    @classmethod
    def of(cls, state: LocalState) -> Trust:
        """The local cloud's issuer and the repository its tokens name (its claims file)."""
        claims = Path(state.state_dir) / CLAIMS_FILE
        try:
            repository = str(json.loads(claims.read_text(encoding="utf-8"))["repository"])
        except (OSError, ValueError, KeyError):
            repository = None
        return cls(state.oidc_issuer.removeprefix("http://"), repository)


Runnable = Callable[[str, "int | None"], str]  # (repository, container port) -> an image


def seed(config: Config, env: Environment, aws: AwsClients,
         log: Callable[[str], None], trust: Trust | None = None, *,
         runnable: Runnable | None = None) -> list[str]:
    """Create what ``env`` needs in moto; return a line per resource made or found.

    The deploy role trusts the local OIDC issuer exactly as `release iam trust-policy` has a
    role trust GitHub's: one repository's jobs in the environment's GitHub environment, so
    `release doctor --env local` finds nothing to fix.
    """
    if env.aws is None or not env.aws.endpoint_url:
        raise ReleaseError(f"{env.path} is not a local environment (no aws.endpoint_url)",
                           "seeding creates infrastructure only in the local cloud")
    account = env.aws
    made: list[str] = []
    iam, ec2 = aws.client("iam"), aws.client("ec2")
    trust = trust or Trust()
    repository = trust.repository or str(default_claims(config.root)["repository"])
    _role_with(iam, env.aws.role_arn.rsplit("/", 1)[-1],
               trust_policy("aws", env.aws.account_id, repository, env.name, trust.issuer_host))
    network = _network(ec2)
    ecr = aws.client("ecr")
    for dep in env.deployments.values():
        if dep.service.needs_image:
            _ignore_exists(partial(ecr.create_repository, repositoryName=dep.service.repository),
                           "RepositoryAlreadyExistsException")
        if dep.ecs is not None:  # before the service: its first tasks read them
            _secrets(aws, dep.ecs.secrets)
        if dep.ecs is not None and dep.service.ecs is not None:
            template = config.root / dep.service.ecs.task_definition
            made.append(_ecs_service(env, account, aws, dep, template=template,
                                     network=network, runnable=runnable))
        if dep.lambda_ is not None:
            made.append(_function(env, aws, dep.name, dep.lambda_,
                                  _initial_image(env, dep)))
        if dep.step_functions is not None:
            made.append(_state_machine(env.name, account, aws, dep.name,
                                       dep.step_functions.state_machine))
        if dep.s3 is not None:
            made.append(_bucket(aws, dep.s3.bucket, account.region))
    for line in made:
        log(line)
    return made


def _network(ec2: Any) -> dict[str, Any]:
    """The awsvpc configuration of the default VPC's first subnet and security group."""
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"][0]["GroupId"]
    return {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]],
                                    "securityGroups": [group], "assignPublicIp": "ENABLED"}}


def _container_port(template: Any, container: str | None) -> int | None:
    """The first containerPort of the container that gets the image (None: none)."""
    body = template.get("taskDefinition", template) if isinstance(template, dict) else {}
    try:
        target = taskdef.target_container(body.get("containerDefinitions") or [], container)
    except ValueError:
        return None
    ports = [m.get("containerPort") for m in target.get("portMappings") or []]
    return next((p for p in ports if isinstance(p, int)), 80)


def _initial_image(env: Environment, dep: ServiceDeployment) -> str:
    return f"{env.registry.host}/{dep.service.repository}:{INITIAL_TAG}"


def _ecs_service(env: Environment, account: AwsAccount, aws: AwsClients, dep: ServiceDeployment,
                 *, template: Path, network: dict[str, Any],
                 runnable: Runnable | None = None) -> str:
    if dep.ecs is None:
        return ""
    ecs, iam = aws.client("ecs"), aws.client("iam")
    clusters = ecs.describe_clusters(clusters=[dep.ecs.cluster]).get("clusters", [])
    if not any(c.get("status") == "ACTIVE" for c in clusters):
        ecs.create_cluster(clusterName=dep.ecs.cluster)  # moto's would replace an existing one
    for arn in (dep.ecs.execution_role_arn, dep.ecs.task_role_arn):
        if arn:
            _role(iam, arn.rsplit("/", 1)[-1], _ASSUME["ecs"])
    found = ecs.describe_services(cluster=dep.ecs.cluster, services=[dep.ecs.service])
    if any(s.get("status") == "ACTIVE" for s in found.get("services", [])):
        return f"ecs service {dep.ecs.cluster}/{dep.ecs.service} (exists)"
    placeholders = {"env": env.name, "service": dep.name, "region": account.region,
                    "account_id": account.account_id}
    data = json.loads(template.read_text())
    image = (runnable(dep.service.repository, _container_port(data, dep.ecs.container))
             if runnable is not None else _initial_image(env, dep))
    body = taskdef.render(taskdef.RenderInput(data, dep.ecs, image, account.region,
                                              placeholders))
    for arn in (body.get("executionRoleArn"), body.get("taskRoleArn")):
        if arn:
            _role(iam, arn.rsplit("/", 1)[-1], _ASSUME["ecs"])
    arn = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=dep.ecs.cluster, serviceName=dep.ecs.service, taskDefinition=arn,
                       desiredCount=dep.ecs.desired_count or 1, launchType="FARGATE",
                       networkConfiguration=network, deploymentConfiguration={
                           # as teams set it: a deployment whose tasks keep failing is
                           # stopped and rolled back by ECS itself
                           "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                           "minimumHealthyPercent": 100, "maximumPercent": 200})
    return f"ecs service {dep.ecs.cluster}/{dep.ecs.service} on {arn.rsplit('/', 1)[-1]}"


def _exists(call: Callable[[], Any], missing: str) -> bool:
    try:
        call()
    except Exception as exc:
        if missing not in _code(exc):
            raise
        return False
    return True


def _function(env: Environment, aws: AwsClients, service: str, function: LambdaDeployment,
              image: str) -> str:
    lam = aws.client("lambda")
    if _exists(lambda: lam.get_function(FunctionName=function.function),
               "ResourceNotFoundException"):
        return f"lambda function {function.function} (exists)"
    role = _role(aws.client("iam"), f"{env.name}-{service}-lambda", _ASSUME["lambda"])
    # A retried create (the first answer timed out on a busy machine) finds its own function.
    _ignore_exists(partial(lam.create_function, FunctionName=function.function,
                           PackageType="Image", Role=role, Code={"ImageUri": image},
                           Publish=True, Environment={"Variables": dict(function.environment)}),
                   "ResourceConflictException")
    version = lam.list_versions_by_function(FunctionName=function.function)["Versions"][-1]
    _ignore_exists(partial(lam.create_alias, FunctionName=function.function,
                           Name=function.alias, FunctionVersion=version["Version"]),
                   "ResourceConflictException")
    return f"lambda function {function.function} with alias {function.alias}"


def _state_machine(env_name: str, account: AwsAccount, aws: AwsClients, service: str,
                   name: str) -> str:
    sfn = aws.client("stepfunctions")
    arn = f"arn:aws:states:{account.region}:{account.account_id}:stateMachine:{name}"
    if _exists(lambda: sfn.describe_state_machine(stateMachineArn=arn), "DoesNotExist"):
        return f"state machine {name} (exists)"
    role = _role(aws.client("iam"), f"{env_name}-{service}-states", _ASSUME["states"])
    initial = {"StartAt": "Pending", "States": {"Pending": {"Type": "Pass", "End": True}}}
    sfn.create_state_machine(name=name, definition=json.dumps(initial), roleArn=role)
    return f"state machine {name}"


def _bucket(aws: AwsClients, bucket: str, region: str) -> str:
    s3 = aws.client("s3")
    if _exists(lambda: s3.head_bucket(Bucket=bucket), "404"):
        return f"s3 bucket {bucket} (exists)"
    _ignore_exists(partial(s3.create_bucket, Bucket=bucket,
                           CreateBucketConfiguration={"LocationConstraint": region}),
                   "BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    return f"s3 bucket {bucket}"


def _secrets(aws: AwsClients, secrets: Mapping[str, str]) -> None:
    ssm = aws.client("ssm")
    for name, arn in secrets.items():
        if ":parameter/" in arn:
            path = "/" + arn.split(":parameter/", 1)[1]
            if _exists(partial(ssm.get_parameter, Name=path), "ParameterNotFound"):
                continue  # a second seed changes nothing (not even the parameter's version)
            # A stand-in value: the local cloud's tasks get it as ECS would inject it.
            _ignore_exists(partial(ssm.put_parameter, Name=path, Value=f"local-{name.lower()}",
                                   Type="SecureString"), "ParameterAlreadyExists")
