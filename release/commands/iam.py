"""``release iam trust-policy --env ENV --repo OWNER/REPO``: the role, right the first time.

Prints the trust policy (exactly one repository, one GitHub environment, AWS's audience:
no wildcards) and the permissions policy for the calls a release of that environment makes.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.commands import render as render_cmd
from release.config import load_config
from release.config.model import Config, Environment
from release.errors import UsageError
from release.identity import policies
from release.output import envelope
from release.planning import taskdef

_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


@dataclass(frozen=True)
class Options:
    """Which environment, for which repository."""

    root: Path
    environment: str
    repository: str


@dataclass(frozen=True)
class Result:
    """The two policy documents of the environment's role."""

    environment: str
    role_arn: str
    subject: str
    trust_policy: dict[str, Any]
    permissions_policy: dict[str, Any]

    def to_text(self) -> str:
        """Both documents, with the commands that apply them."""
        role = self.role_arn.rsplit("/", 1)[-1]
        return "\n".join([
            f"# Trust policy of {self.role_arn}: admits only jobs whose token subject is",
            f"#   {self.subject}",
            "# (the job must declare `environment: "
            f"{self.environment}`; names are compared case-sensitively: use GitHub's case)",
            json.dumps(self.trust_policy, indent=2),
            "",
            "# Permissions policy: the calls `release deploy` makes for this environment",
            json.dumps(self.permissions_policy, indent=2),
            "",
            "# Apply with:",
            f"#   aws iam update-assume-role-policy --role-name {role} "
            "--policy-document file://trust.json",
            f"#   aws iam put-role-policy --role-name {role} --policy-name release "
            "--policy-document file://permissions.json",
        ])

    def to_json(self) -> str:
        """Versioned JSON with both documents."""
        return envelope("iam-trust-policy", {
            "environment": self.environment, "role_arn": self.role_arn,
            "subject": self.subject, "trust_policy": self.trust_policy,
            "permissions_policy": self.permissions_policy})


def resources(config: Config, env: Environment) -> policies.Resources:
    """What a release of ``env`` touches in AWS, read from the configuration."""
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block", "the role is an AWS IAM role")
    aws = env.aws
    partition = aws.role_arn.split(":")[1]
    repositories, ecs, functions, machines, objects = [], [], [], [], []
    for dep in env.deployments.values():
        registry = env.registry_of(dep)  # a service may push elsewhere (batch-detector: ACR)
        ecr = _ECR_HOST.match(registry.host) if registry.type == "ecr" else None
        if registry.type == "ecr" and dep.service.needs_image:
            account = ecr.group("account") if ecr else aws.account_id
            region = ecr.group("region") if ecr else aws.region
            repositories.append(f"arn:{partition}:ecr:{region}:{account}:repository/"
                                f"{dep.service.repository}")
        if dep.ecs is not None:
            ecs.append(policies.EcsService(dep.ecs.cluster, dep.ecs.service, dep.ecs.family,
                                           _task_roles(config, env, dep.name)))
        if dep.lambda_ is not None:
            functions.append(dep.lambda_.function)
        if dep.step_functions is not None:
            machines.append(dep.step_functions.state_machine)
        if dep.s3 is not None:
            values = {"env": env.name, "service": dep.name}
            for item in dep.s3.files:
                key = str(taskdef.substitute(item.key, values))
                if (config.root / item.source).is_dir() and not key.endswith("/"):
                    key += "/"
                objects.append((dep.s3.bucket, key))
    return policies.Resources(partition, aws.region, aws.account_id, tuple(repositories),
                              tuple(ecs), tuple(functions), tuple(machines), tuple(objects))


def _task_roles(config: Config, env: Environment, service: str) -> tuple[str, ...]:
    """The roles the rendered task definition passes to ECS (env values over the template)."""
    body, _ = render_cmd.render_for(config, env, service, "image@sha256:" + "0" * 64)
    return tuple(str(body[k]) for k in ("executionRoleArn", "taskRoleArn") if body.get(k))


def run(options: Options) -> Result:
    """Both policies for the environment's role."""
    if not policies.valid_repository(options.repository):
        raise UsageError(f"--repo '{options.repository}' is not OWNER/REPO",
                         "give the repository as GitHub shows it, e.g. --repo acme/services")
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    found = resources(config, env)
    assert env.aws is not None  # noqa: S101 - resources() checked
    trust = policies.trust_policy(found.partition, env.aws.account_id, options.repository,
                                  env.name)
    return Result(env.name, env.aws.role_arn, policies.subject(options.repository, env.name),
                  trust, policies.permissions_policy(found))


def register(sub: Any) -> None:
    """Add ``iam trust-policy`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "iam", help="IAM policies for the environment's deploy role",
        description="Print IAM documents for the role `release auth aws` assumes.")
    verbs = parser.add_subparsers(dest="iam_verb", metavar="VERB", required=True)
    trust = verbs.add_parser(
        "trust-policy", help="trust and permissions policy for one environment",
        description="A trust policy admitting exactly repo:OWNER/REPO:environment:ENV with "
                    "audience sts.amazonaws.com, and the least-privilege permissions policy.")
    trust.add_argument("--env", required=True, metavar="NAME", help="environment name")
    trust.add_argument("--repo", required=True, metavar="OWNER/REPO",
                       help="the GitHub repository whose jobs may assume the role")
    trust.set_defaults(handler=lambda args: run(Options(args.root, args.env, args.repo)))
