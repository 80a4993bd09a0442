"""``release iam trust-policy --env ENV --repo OWNER/REPO``: the role, right the first time.

Prints the trust policy (exactly one repository, one GitHub environment, AWS's audience:
no wildcards; with ``--workflow``/``--ref`` also one workflow at one ref, through the
repository's OIDC subject customisation), the permissions policy for the calls a release of
that environment makes, and the GitHub settings that go with them as ``gh api`` calls: the
subject customisation, and the environment's protection (deployment branches, reviewers).
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import load_config
from release.config.model import Config, Environment
from release.config.source import (
    MAX_CONFIG_BYTES,
    PathKey,
    SourceError,
    dotted,
    parse_source,
)
from release.engine import rendering
from release.errors import ConfigError, Problem, UsageError
from release.identity import policies
from release.output import envelope
from release.planning import taskdef

_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


@dataclass(frozen=True)
class Options:
    """Which environment, for which repository, bound how tightly."""

    root: Path
    environment: str
    repository: str
    workflow: str | None = None  # a file of the repository, or a whole job_workflow_ref
    ref: str | None = None  # refs/heads/BRANCH or refs/tags/TAG
    reviewers: tuple[str, ...] = ()  # ORG/TEAM-SLUG or LOGIN
    protection: bool = True  # print the environment protection calls


@dataclass(frozen=True)
class Result:
    """The two policy documents of the environment's role, and the GitHub settings."""

    role_arn: str
    binding: policies.Binding
    trust_policy: dict[str, Any]
    permissions_policy: dict[str, Any]
    protection: tuple[policies.GhApiCall, ...] = ()
    reads_build_secrets: bool = False  # a build secret is read from Secrets Manager or SSM

    @property
    def environment(self) -> str:
        """The GitHub environment (same name as the release environment)."""
        return self.binding.environment

    @property
    def subject(self) -> str:
        """The exact ``sub`` the trust policy requires."""
        return self.binding.subject

    @property
    def subject_customization(self) -> policies.GhApiCall | None:
        """The call that makes the repository's tokens carry that subject (None: GitHub's
        default subject already does)."""
        if not self.binding.customized:
            return None
        return policies.subject_customization(self.binding.repository, self.binding.claim_keys)

    def _who(self) -> str:
        binding = self.binding
        where = f"the job must declare `environment: {binding.environment}`"
        if binding.job_workflow_ref:
            where += f" and run in {binding.job_workflow_ref}"
        if binding.ref:
            where += f" on {binding.ref}"
        return where

    def to_text(self) -> str:
        """Both documents, with the commands that apply them and the GitHub settings."""
        role = self.role_arn.rsplit("/", 1)[-1]
        lines = [
            f"# Trust policy of {self.role_arn}: admits only jobs whose token subject is",
            f"#   {self.subject}",
            *_comment(f"({self._who()}; names are compared case-sensitively: use GitHub's "
                      "case)"),
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
        ]
        if self.reads_build_secrets:
            lines += ["", *_comment(KMS_NOTE)]
        customization = self.subject_customization
        if customization is not None:
            repo = self.binding.repository
            lines += ["", *_comment(
                f"GitHub: the tokens of {repo} must carry that subject: customise it (keys "
                f"{', '.join(self.binding.claim_keys)}) as a repository admin, AFTER this "
                f"trust policy is applied. It changes the subject of EVERY job of {repo}: "
                "first give the other roles that trust it the same --workflow/--ref, or they "
                "stop admitting its jobs."), customization.command()]
        elif self.protection:
            lines += ["", *_comment(
                "Not bound to a workflow or ref: any workflow of any branch that declares "
                f"`environment: {self.environment}` gets this role, unless the environment "
                "limits its deployment branches (below); --workflow and --ref bind the role "
                "itself.")]
        if self.protection:
            lines += ["", f"# GitHub: protect the environment {self.environment} "
                          "(as a repository admin):"]
            for call in self.protection:
                lines += [*_comment(call.purpose), call.command()]
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON with both documents and the GitHub calls."""
        customization = self.subject_customization
        return envelope("iam-trust-policy", {
            "environment": self.environment, "role_arn": self.role_arn,
            "subject": self.subject, "claim_keys": list(self.binding.claim_keys),
            "job_workflow_ref": self.binding.job_workflow_ref, "ref": self.binding.ref,
            "trust_policy": self.trust_policy,
            "permissions_policy": self.permissions_policy,
            "subject_customization": None if customization is None else customization.to_dict(),
            "environment_protection": [call.to_dict() for call in self.protection]})


KMS_NOTE = (
    "KMS: build secrets are read from Secrets Manager / SSM with this role. A secret or a "
    "SecureString parameter encrypted with a customer-managed KMS key also needs "
    "kms:Decrypt on that key (the key is not in release's configuration: add a statement "
    "naming its ARN); the AWS managed keys need nothing more.")


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 94)]


def resources(config: Config, env: Environment) -> policies.Resources:
    """What a release of ``env`` touches in AWS, read from the configuration."""
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block", "the role is an AWS IAM role")
    aws = env.aws
    partition = aws.role_arn.split(":")[1]
    repositories, ecs, functions, machines, objects = [], [], [], [], []
    secrets: dict[str, None] = {}  # ordered sets: a secret shared by services is read once
    parameters: dict[str, None] = {}
    for dep in env.deployments.values():
        for secret in dep.service.build_secrets:
            if secret.aws_secret is not None:
                secrets[secret.aws_secret] = None
            elif secret.ssm is not None:
                parameters[secret.ssm] = None
        registry = env.registry_of(dep)  # a service may push elsewhere (batch-detector: ACR)
        ecr = _ECR_HOST.match(registry.host) if registry.type == "ecr" else None
        if registry.type == "ecr" and dep.service.needs_image:
            account = ecr.group("account") if ecr else aws.account_id
            region = ecr.group("region") if ecr else aws.region
            repositories.append(f"arn:{partition}:ecr:{region}:{account}:repository/"
                                f"{dep.service.repository}")
        if dep.ecs is not None:
            ecs.append(_ecs_service(config, env, dep.name))
        if dep.lambda_ is not None:
            functions.append(dep.lambda_.function)
        if dep.step_functions is not None:
            machines.append(dep.step_functions.state_machine)
        if dep.s3 is not None:
            for index, item in enumerate(dep.s3.files):
                key = _s3_key(config, env, dep.name, index)
                if (config.root / item.source).is_dir() and not key.endswith("/"):
                    key += "/"
                objects.append((dep.s3.bucket, key))
    return policies.Resources(partition, aws.region, aws.account_id, tuple(repositories),
                              tuple(ecs), tuple(functions), tuple(machines), tuple(objects),
                              tuple(secrets), tuple(parameters), *_gates(env))


def _gates(env: Environment) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The Lambda functions a smoke gate invokes, and the CloudWatch alarms the gates read."""
    invoked: dict[str, None] = {}
    alarms: dict[str, None] = {}
    for dep in env.deployments.values():
        if dep.ecs is not None and dep.ecs.deployment is not None:
            alarms.update(dict.fromkeys(dep.ecs.deployment.alarms))
        if dep.lambda_ is not None:
            alarms.update(dict.fromkeys(dep.lambda_.deployment.alarms))
            if dep.lambda_.deployment.smoke is not None:
                invoked[dep.lambda_.function] = None
    return tuple(invoked), tuple(alarms)


def _ecs_service(config: Config, env: Environment, name: str) -> policies.EcsService:
    """The ECS service of ``name``, the roles it passes (to its tasks, and to ECS for its
    lifecycle hooks), the log group a failed gate task's last lines are read from
    (``log_group``, else ECS's ``/ecs/FAMILY`` default) and whether a one-off gate task
    runs."""
    ecs = env.deployments[name].ecs
    assert ecs is not None  # noqa: S101 - the caller checked
    return policies.EcsService(ecs.cluster, ecs.service, ecs.family,
                               _task_roles(config, env, name),
                               log_group=ecs.log_group or f"/ecs/{ecs.family}",
                               run_task=bool(ecs.deployment and ecs.deployment.run_task),
                               hook_roles=tuple(hook.role_arn for hook in (
                                   ecs.deployment.lifecycle_hooks if ecs.deployment else ())
                                   if hook.role_arn))


def _s3_key(config: Config, env: Environment, service: str, index: int) -> str:
    """The S3 key of ``services.SERVICE.s3_files[INDEX]`` with ${env} and ${service} filled;
    an unknown placeholder is a located config error, not a crash."""
    dep = env.deployments[service]
    assert dep.s3 is not None  # noqa: S101 - the caller checked
    values = {"env": env.name, "service": service}
    try:
        return str(taskdef.substitute(dep.s3.files[index].key, values))
    except taskdef.UnknownPlaceholderError as exc:
        at = ("services", service, "s3_files", index, "key")
        raise ConfigError([Problem(
            config.release_path, _line(config, at), dotted(at), f"{exc} in an S3 key",
            "known placeholders are " + " and ".join(f"${{{k}}}" for k in exc.known))]) from None


def _line(config: Config, at: PathKey) -> int | None:
    """The line of ``at`` in release.yaml (read again, bounded: only to locate an error)."""
    try:
        with (config.root / config.release_path).open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        return parse_source(raw, config.release_path).line(at)
    except (OSError, SourceError):
        return None


def _task_roles(config: Config, env: Environment, service: str) -> tuple[str, ...]:
    """The roles the rendered task definition passes to ECS (env values over the template)."""
    body, _ = rendering.render_for(config, env, service, "image@sha256:" + "0" * 64)
    return tuple(str(body[k]) for k in ("executionRoleArn", "taskRoleArn") if body.get(k))


def binding(options: Options) -> policies.Binding:
    """``--repo``, ``--workflow`` and ``--ref`` checked and resolved; UsageError otherwise."""
    if not policies.valid_repository(options.repository):
        raise UsageError(f"--repo '{options.repository}' is not OWNER/REPO",
                         "give the repository as GitHub shows it, e.g. --repo acme/services")
    try:
        return policies.bind(options.repository, options.environment, options.workflow,
                             options.ref)
    except ValueError as exc:
        raise UsageError(str(exc), "e.g. --workflow .github/workflows/deploy.yml "
                                   "--ref refs/heads/main") from None


def reviewers(names: tuple[str, ...]) -> tuple[policies.Reviewer, ...]:
    """``--reviewer`` values checked (at most GitHub's six)."""
    if len(names) > policies.MAX_REVIEWERS:
        raise UsageError(f"{len(names)} reviewers given; GitHub takes at most "
                         f"{policies.MAX_REVIEWERS}", "name a team instead of its members")
    try:
        return tuple(policies.Reviewer.parse(name) for name in names)
    except ValueError as exc:
        raise UsageError(str(exc), "e.g. --reviewer acme/release-approvers") from None


def run(options: Options) -> Result:
    """Both policies for the environment's role, and the GitHub settings that go with them."""
    bound = binding(options)
    chosen = reviewers(options.reviewers)
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    found = resources(config, env)
    assert env.aws is not None  # noqa: S101 - resources() checked
    trust = policies.trust_policy(found.partition, env.aws.account_id, options.repository,
                                  env.name, binding=bound)
    protection = policies.environment_protection(bound, chosen) if options.protection else []
    return Result(env.aws.role_arn, bound, trust, policies.permissions_policy(found),
                  tuple(protection),
                  reads_build_secrets=bool(found.secrets or found.parameters))


def register(sub: Any) -> None:
    """Add ``iam trust-policy`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "iam", help="IAM policies for the environment's deploy role",
        description="Print IAM documents for the role `release auth aws` assumes.")
    verbs = parser.add_subparsers(dest="iam_verb", metavar="VERB", required=True)
    trust = verbs.add_parser(
        "trust-policy", help="trust and permissions policy for one environment",
        description="A trust policy admitting exactly repo:OWNER/REPO:environment:ENV with "
                    "audience sts.amazonaws.com (StringEquals, no wildcard), the "
                    "least-privilege permissions policy, and the GitHub settings to make as "
                    "`gh api` calls: the environment's deployment branches (main, or --ref) "
                    "and, for prod, production and prod-* environments, required reviewers. "
                    "With --workflow and/or --ref the subject also names the workflow and "
                    "ref (repo:O/R:environment:ENV:job_workflow_ref:O/R/.github/workflows/"
                    "F.yml@refs/heads/main), and the repository's OIDC subject customisation "
                    "that makes GitHub put them there is printed too.")
    trust.add_argument("--env", required=True, metavar="NAME", help="environment name")
    trust.add_argument("--repo", required=True, metavar="OWNER/REPO",
                       help="the GitHub repository whose jobs may assume the role")
    trust.add_argument("--workflow", metavar="FILE|JOB_WORKFLOW_REF",
                       help="admit only jobs of this workflow: a file of --repo "
                            "(.github/workflows/deploy.yml; for a reusable workflow, the "
                            "called one), which runs at --ref (default refs/heads/main), or a "
                            "whole job_workflow_ref (OWNER/REPO/.github/workflows/deploy.yml@"
                            "REF, e.g. another repository's, pinned by commit SHA)")
    trust.add_argument("--ref", metavar="REF",
                       help="admit only runs of this branch or tag (refs/heads/main, "
                            "refs/tags/v1); alone, it adds the ref claim to the subject; the "
                            "environment's deployment branch follows it (default main)")
    trust.add_argument("--reviewer", action="append", default=[], metavar="ORG/TEAM|LOGIN",
                       help="required reviewer of the environment's jobs (repeatable, at most "
                            "6; default for production-like environments: a TEAM placeholder)")
    trust.add_argument("--no-protection", dest="protection", action="store_false",
                       help="leave out the environment protection calls")
    trust.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, args.repo, args.workflow, args.ref, tuple(args.reviewer),
        args.protection)))
