"""IAM documents for one environment: who may assume the role, and what the role may do.

Pure: data in, policy documents out. The trust policy admits one repository's jobs in one
GitHub environment and, where the repository customises its OIDC subject, one workflow at
one ref too; the GitHub settings that go with it (the subject customisation, the
environment's deployment branches and reviewers) come out as ``gh api`` calls. The
permissions list exactly the calls the release makes (``release/adapters/aws``), scoped to
the environment's resources wherever the API allows resource-level permissions.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from release.errors import UsageError

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
AWS_AUDIENCE = "sts.amazonaws.com"
DEFAULT_BRANCH_REF = "refs/heads/main"
MAX_REVIEWERS = 6  # GitHub's limit for an environment's required reviewers
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# Workflows live directly in .github/workflows; names and refs are literal (no wildcard, no
# ':' that would split the subject, nothing a shell or a heredoc would expand).
_WORKFLOW_PATH = re.compile(r"^\.github/workflows/[A-Za-z0-9._-]+\.ya?ml$")
_REF = re.compile(r"^refs/(?:heads|tags)/[A-Za-z0-9._/-]{1,200}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_JOB_WORKFLOW_REF = re.compile(
    r"^(?P<repository>[^/@]+/[^/@]+)/(?P<path>\.github/workflows/[^@]+)@(?P<ref>.+)$")
_PRODUCTION = re.compile(r"^(?:prod|production)(?:-[a-z0-9-]+)?$")
_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_TEAM = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# Secrets Manager ends a secret's ARN with '-' and six random alphanumeric characters.
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")

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


@dataclass(frozen=True)
class Binding:
    """Which jobs the role admits: one repository's, in one GitHub environment, and (when the
    repository customises its OIDC subject) of one workflow at one ref."""

    repository: str  # OWNER/REPO
    environment: str
    job_workflow_ref: str | None = None  # OWNER/REPO/.github/workflows/FILE@REF
    ref: str | None = None  # in the subject only where job_workflow_ref does not carry it

    @property
    def claim_keys(self) -> tuple[str, ...]:
        """The ``include_claim_keys`` of the subject customisation this binding needs."""
        return ("repo", "context", *(("ref",) if self.ref else ()),
                *(("job_workflow_ref",) if self.job_workflow_ref else ()))

    @property
    def customized(self) -> bool:
        """True when the repository must customise its OIDC subject (GitHub's default
        subject of an environment job names only the repository and the environment)."""
        return self.claim_keys != ("repo", "context")

    @property
    def subject(self) -> str:
        """The exact ``sub`` of the admitted jobs' tokens, as GitHub builds it from the keys
        (``repo:O/R:environment:ENV:job_workflow_ref:O/R/.github/workflows/F@REF``)."""
        parts = [f"repo:{self.repository}", f"environment:{self.environment}"]
        if self.ref:
            parts.append(f"ref:{self.ref}")
        if self.job_workflow_ref:
            parts.append(f"job_workflow_ref:{self.job_workflow_ref}")
        return ":".join(parts)

    @property
    def bound_ref(self) -> str | None:
        """The ref the role admits, when the subject pins one (itself or in the workflow ref)."""
        if self.ref:
            return self.ref
        found = _JOB_WORKFLOW_REF.match(self.job_workflow_ref or "")
        if found and found["repository"] == self.repository and _REF.match(found["ref"]):
            return found["ref"]
        return None

    @property
    def deployment_ref(self) -> str:
        """The one branch (or tag) the environment should accept deployments from."""
        return self.bound_ref or DEFAULT_BRANCH_REF


def bind(repository: str, environment: str, workflow: str | None = None,
         ref: str | None = None) -> Binding:
    """The binding for ``--workflow``/``--ref``; ValueError saying what to write instead.

    ``workflow`` is a path in the repository (``.github/workflows/deploy.yml``, or just
    ``deploy.yml``: the job runs at ``ref``, default refs/heads/main) or a whole
    ``job_workflow_ref`` (``OWNER/REPO/.github/workflows/deploy.yml@REF``, e.g. a reusable
    workflow of another repository pinned by commit SHA).
    """
    if ref is not None and not _REF.match(ref):
        raise ValueError(f"--ref {ref!r} is not a full branch or tag ref: write "
                         "refs/heads/BRANCH or refs/tags/TAG, literally (no wildcard)")
    if workflow is None:
        return Binding(repository, environment, ref=ref)
    if "/" not in workflow and "@" not in workflow:
        workflow = f".github/workflows/{workflow}"
    if _WORKFLOW_PATH.match(workflow):
        return Binding(repository, environment,
                       job_workflow_ref=f"{repository}/{workflow}@{ref or DEFAULT_BRANCH_REF}")
    found = _JOB_WORKFLOW_REF.match(workflow)
    if not found or not valid_repository(found["repository"]) \
            or not _WORKFLOW_PATH.match(found["path"]) \
            or not (_REF.match(found["ref"]) or _SHA.match(found["ref"])):
        raise ValueError(
            f"--workflow {workflow!r} is neither a workflow file (.github/workflows/NAME.yml) "
            "nor a job_workflow_ref (OWNER/REPO/.github/workflows/NAME.yml@refs/heads/BRANCH "
            "or @<40-hex commit SHA>)")
    carries_ref = found["repository"] == repository and _REF.match(found["ref"])
    if carries_ref and ref is not None and ref != found["ref"]:
        raise ValueError(f"--workflow runs at {found['ref']} but --ref says {ref}: a workflow "
                         "of this repository runs at the ref of the run; give one of them")
    return Binding(repository, environment, job_workflow_ref=workflow,
                   ref=None if carries_ref else ref)


def literal(what: str, name: str) -> str:
    """``name`` when it holds no IAM wildcard; else a UsageError (second line of defence:
    validation refuses these first). A '*' or '?' in a name that becomes a resource ARN
    would grant every resource it matches."""
    for char in ("*", "?"):
        if char in name:
            raise UsageError(
                f"{what} {name!r} contains '{char}': names that become IAM resources must be "
                "literal, or the role would be granted every resource the pattern matches",
                "write the exact name in the configuration (`release validate` lists where)")
    return name


def trust_policy(partition: str, account_id: str, repository: str, environment: str,
                 issuer_host: str = GITHUB_ISSUER_HOST, *,
                 binding: Binding | None = None) -> dict[str, Any]:
    """Admit exactly one repository's jobs in one GitHub environment (and, with a ``binding``
    that names them, one workflow at one ref), with AWS's audience. StringEquals only."""
    binding = binding or Binding(repository, environment)
    sub = binding.subject
    for what, value in (("the account id", account_id), ("the subject", sub)):
        literal(what, value)
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
                f"{issuer_host}:sub": sub,
            }},
        }],
    }


@dataclass(frozen=True)
class GhApiCall:
    """One GitHub REST call, run with the gh CLI by a repository admin."""

    purpose: str
    method: Literal["PUT", "POST"]
    path: str  # e.g. repos/OWNER/REPO/environments/prod
    body: dict[str, Any]
    # (placeholder in body, gh command printing the value): ids looked up when it runs
    lookups: tuple[tuple[str, str], ...] = field(default=())

    def command(self) -> str:
        """The shell command: ``-f``/``-F`` fields for a flat body, else JSON on stdin."""
        head = f"gh api --method {self.method} {shlex.quote(self.path)}"
        if not self.lookups and all(_flat(v) for v in self.body.values()):
            return " ".join([head, *_fields(self.body)])
        text = json.dumps(self.body)
        for placeholder, lookup in self.lookups:
            text = text.replace(json.dumps(placeholder), f"$({lookup})")
        # An unquoted heredoc expands the $(...) lookups; every other character is checked
        # literal (names, refs) or written by json.dumps.
        marker = "EOF" if self.lookups else "'EOF'"
        return f"{head} --input - <<{marker}\n{text}\nEOF"

    def to_dict(self) -> dict[str, Any]:
        """For the JSON envelope: the request and the command that makes it."""
        return {"purpose": self.purpose, "method": self.method, "path": self.path,
                "body": self.body, "command": self.command()}


def _flat(value: Any) -> bool:
    return isinstance(value, (str, bool, int)) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value))


def _fields(body: dict[str, Any]) -> list[str]:
    out = []
    for key, value in body.items():
        for one in value if isinstance(value, list) else [value]:
            name = f"{key}[]" if isinstance(value, list) else key
            if isinstance(one, bool):
                out.append(f"-F {shlex.quote(f'{name}={str(one).lower()}')}")
            else:
                out.append(f"-f {shlex.quote(f'{name}={one}')}")
    return out


def _repo_path(repository: str) -> str:
    owner, repo = repository.split("/", 1)
    return f"repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(repo, safe='')}"


def subject_customization(repository: str, claim_keys: Iterable[str]) -> GhApiCall:
    """``PUT /repos/{owner}/{repo}/actions/oidc/customization/sub``: tokens of the repository's
    jobs get subjects made of ``claim_keys`` (``("repo", "context")`` is GitHub's default)."""
    return GhApiCall(
        "customise the OIDC subject of this repository's tokens (the trust policy's sub "
        "names these claims)", "PUT", f"{_repo_path(repository)}/actions/oidc/customization/sub",
        {"use_default": False, "include_claim_keys": list(claim_keys)})


def default_subject(repository: str) -> GhApiCall:
    """The same call giving the repository back GitHub's default subject."""
    return GhApiCall("give the repository GitHub's default OIDC subject", "PUT",
                     f"{_repo_path(repository)}/actions/oidc/customization/sub",
                     {"use_default": True})


def production_like(environment: str) -> bool:
    """True for ``prod``, ``production``, ``prod-*`` and ``production-*``."""
    return bool(_PRODUCTION.match(environment.lower()))


@dataclass(frozen=True)
class Reviewer:
    """A required reviewer: a team (``ORG/TEAM-SLUG``) or a user (``LOGIN``)."""

    name: str

    @classmethod
    def parse(cls, name: str) -> Reviewer:
        """``name`` checked; ValueError saying the two forms."""
        if not (_TEAM.match(name) or _USER.match(name)):
            raise ValueError(f"--reviewer {name!r} is neither ORG/TEAM-SLUG (a team) nor a "
                             "user login")
        return cls(name)

    @property
    def kind(self) -> Literal["Team", "User"]:
        """GitHub's reviewer type."""
        return "Team" if "/" in self.name else "User"

    @property
    def lookup(self) -> str:
        """The gh command printing the reviewer's numeric id, which the API wants."""
        if self.kind == "Team":
            org, slug = self.name.split("/", 1)
            return f"gh api orgs/{org}/teams/{slug} --jq .id"
        return f"gh api users/{self.name} --jq .id"


PLACEHOLDER_TEAM = "TEAM"  # shown when a production environment has no --reviewer


def environment_protection(binding: Binding,
                           reviewers: tuple[Reviewer, ...] = ()) -> list[GhApiCall]:
    """The environment's deployments limited to the binding's branch (main by default) and,
    for a production-like environment or given reviewers, approved by a reviewer.

    ``PUT /repos/{owner}/{repo}/environments/{env}`` sets everything in one body (a PUT
    without a field may reset it), then ``POST .../deployment-branch-policies`` names the
    branch.
    """
    env_path = f"{_repo_path(binding.repository)}/environments/" \
               f"{urllib.parse.quote(binding.environment, safe='')}"
    body: dict[str, Any] = {"deployment_branch_policy": {"protected_branches": False,
                                                         "custom_branch_policies": True}}
    purpose = "only branches the next call names may deploy to the environment"
    lookups: tuple[tuple[str, str], ...] = ()
    if reviewers or production_like(binding.environment):
        owner = binding.repository.split("/", 1)[0]
        chosen = reviewers or (Reviewer(f"{owner}/{PLACEHOLDER_TEAM}"),)
        lookups = tuple((f"<id of {r.kind.lower()} {r.name}>", r.lookup) for r in chosen)
        body["reviewers"] = [{"type": r.kind, "id": placeholder}
                             for r, (placeholder, _) in zip(chosen, lookups, strict=True)]
        body["prevent_self_review"] = True
        purpose += ("; a reviewer other than the one who started the run approves each job"
                    + ("" if reviewers else f" (replace {PLACEHOLDER_TEAM} with the team that "
                       "approves, or pass --reviewer ORG/TEAM or --reviewer LOGIN)"))
    kind, _, name = binding.deployment_ref.removeprefix("refs/").partition("/")
    return [
        GhApiCall(purpose, "PUT", env_path, body, lookups),
        GhApiCall(f"deployments only from the {'branch' if kind == 'heads' else 'tag'} "
                  f"{name}", "POST", f"{env_path}/deployment-branch-policies",
                  {"name": name, "type": "branch" if kind == "heads" else "tag"}),
    ]


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
    secrets: tuple[str, ...] = ()  # Secrets Manager ARNs of build secrets, as configured
    parameters: tuple[str, ...] = ()  # SSM parameter names of build secrets


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
             *(("the state machine", name) for name in res.state_machines)]
    for service in res.ecs:
        named += [("the ECS cluster", service.cluster), ("the ECS service", service.service),
                  ("the task definition family", service.family),
                  *(("the role passed to ECS", role) for role in service.roles)]
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
    # Build secrets are read at build time with this role (release/adapters/build_secrets.py).
    if res.secrets:
        out.append(_statement("ReadBuildSecrets", ["secretsmanager:GetSecretValue"],
                              [secret_resource(arn) for arn in res.secrets]))
    if res.parameters:
        out.append(_statement("ReadBuildSecretParameters", ["ssm:GetParameter"],
                              [parameter_resource(res, name) for name in res.parameters]))
    return {"Version": "2012-10-17", "Statement": out}
