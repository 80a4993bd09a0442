"""Create, in moto, the infrastructure an environment file points at (the local cloud only).

In a real account Terraform or CloudFormation owns these; release never creates them.
Here ``release local up`` makes them so that a first ``release deploy --env local`` has
services, functions and a state machine to update. Idempotent: what exists is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from release.adapters.aws.clients import AwsClients
from release.config.model import Config, Environment, ServiceDeployment
from release.errors import ReleaseError
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
    _ignore_exists(lambda: iam.create_role(RoleName=name,
                                           AssumeRolePolicyDocument=json.dumps(policy)),
                   "EntityAlreadyExists")
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def seed(config: Config, env: Environment, aws: AwsClients,
         log: Callable[[str], None]) -> list[str]:
    """Create what ``env`` needs in moto; return a line per resource made or found."""
    if env.aws is None or not env.aws.endpoint_url:
        raise ReleaseError(f"{env.path} is not a local environment (no aws.endpoint_url)",
                           "seeding creates infrastructure only in the local cloud")
    made: list[str] = []
    iam, ecs, ec2 = aws.client("iam"), aws.client("ecs"), aws.client("ec2")
    _role(iam, env.aws.role_arn.rsplit("/", 1)[-1],
          {"Federated": f"arn:aws:iam::{env.aws.account_id}:oidc-provider/127.0.0.1:5002"})
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"][0]["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]],
                                       "securityGroups": [group], "assignPublicIp": "ENABLED"}}
    ecr = aws.client("ecr")
    for dep in env.deployments.values():
        if dep.service.needs_image:
            _ignore_exists(lambda d=dep: ecr.create_repository(repositoryName=d.service.repository),
                           "RepositoryAlreadyExistsException")
        if dep.ecs is not None:
            made.append(_ecs_service(config, env, aws, dep, network))
        if dep.lambda_ is not None:
            made.append(_function(env, aws, dep))
        if dep.step_functions is not None:
            made.append(_state_machine(env, aws, dep))
        if dep.s3 is not None:
            bucket = dep.s3.bucket
            _ignore_exists(lambda b=bucket: aws.client("s3").create_bucket(
                Bucket=b, CreateBucketConfiguration={"LocationConstraint": env.aws.region}),
                "BucketAlreadyOwnedByYou", "BucketAlreadyExists")
            made.append(f"s3 bucket {bucket}")
        if dep.ecs is not None:
            _secrets(aws, dep)
    for line in made:
        log(f"local cloud: {line}")
    return made


def _initial_image(env: Environment, dep: ServiceDeployment) -> str:
    return f"{env.registry.host}/{dep.service.repository}:{INITIAL_TAG}"


def _ecs_service(config: Config, env: Environment, aws: AwsClients, dep: ServiceDeployment,
                 network: dict[str, Any]) -> str:
    assert dep.ecs is not None and dep.service.ecs is not None  # noqa: S101 - caller checks
    ecs, iam = aws.client("ecs"), aws.client("iam")
    ecs.create_cluster(clusterName=dep.ecs.cluster)  # idempotent in ECS
    for arn in (dep.ecs.execution_role_arn, dep.ecs.task_role_arn):
        if arn:
            _role(iam, arn.rsplit("/", 1)[-1], _ASSUME["ecs"])
    found = ecs.describe_services(cluster=dep.ecs.cluster, services=[dep.ecs.service])
    if any(s.get("status") == "ACTIVE" for s in found.get("services", [])):
        return f"ecs service {dep.ecs.cluster}/{dep.ecs.service} (exists)"
    template = json.loads((config.root / dep.service.ecs.task_definition).read_text())
    placeholders = {"env": env.name, "service": dep.name, "region": env.aws.region,  # type: ignore[union-attr]
                    "account_id": env.aws.account_id}  # type: ignore[union-attr]
    body = taskdef.render(taskdef.RenderInput(template, dep.ecs, _initial_image(env, dep),
                                              env.aws.region, placeholders))  # type: ignore[union-attr]
    for arn in (body.get("executionRoleArn"), body.get("taskRoleArn")):
        if arn:
            _role(iam, arn.rsplit("/", 1)[-1], _ASSUME["ecs"])
    arn = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=dep.ecs.cluster, serviceName=dep.ecs.service, taskDefinition=arn,
                       desiredCount=dep.ecs.desired_count or 1, launchType="FARGATE",
                       networkConfiguration=network)
    return f"ecs service {dep.ecs.cluster}/{dep.ecs.service} on {arn.rsplit('/', 1)[-1]}"


def _function(env: Environment, aws: AwsClients, dep: ServiceDeployment) -> str:
    assert dep.lambda_ is not None  # noqa: S101 - caller checks
    lam = aws.client("lambda")
    try:
        lam.get_function(FunctionName=dep.lambda_.function)
        return f"lambda function {dep.lambda_.function} (exists)"
    except Exception as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
    role = _role(aws.client("iam"), f"{env.name}-{dep.name}-lambda", _ASSUME["lambda"])
    lam.create_function(FunctionName=dep.lambda_.function, PackageType="Image", Role=role,
                        Code={"ImageUri": _initial_image(env, dep)}, Publish=True,
                        Environment={"Variables": dict(dep.lambda_.environment)})
    version = lam.list_versions_by_function(FunctionName=dep.lambda_.function)["Versions"][-1]
    lam.create_alias(FunctionName=dep.lambda_.function, Name=dep.lambda_.alias,
                     FunctionVersion=version["Version"])
    return f"lambda function {dep.lambda_.function} with alias {dep.lambda_.alias}"


def _state_machine(env: Environment, aws: AwsClients, dep: ServiceDeployment) -> str:
    assert dep.step_functions is not None and env.aws is not None  # noqa: S101
    sfn = aws.client("stepfunctions")
    name = dep.step_functions.state_machine
    arn = f"arn:aws:states:{env.aws.region}:{env.aws.account_id}:stateMachine:{name}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        return f"state machine {name} (exists)"
    except Exception as exc:
        if "DoesNotExist" not in _code(exc):
            raise
    role = _role(aws.client("iam"), f"{env.name}-{dep.name}-states", _ASSUME["states"])
    initial = {"StartAt": "Pending", "States": {"Pending": {"Type": "Pass", "End": True}}}
    sfn.create_state_machine(name=name, definition=json.dumps(initial), roleArn=role)
    return f"state machine {name}"


def _secrets(aws: AwsClients, dep: ServiceDeployment) -> None:
    assert dep.ecs is not None  # noqa: S101
    ssm = aws.client("ssm")
    for name, arn in dep.ecs.secrets.items():
        if ":parameter/" in arn:
            path = "/" + arn.split(":parameter/", 1)[1]
            # A stand-in value: the local cloud runs no task that could read it.
            ssm.put_parameter(Name=path, Value=f"local-{name.lower()}", Type="SecureString",
                              Overwrite=True)
