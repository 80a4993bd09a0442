"""Who may assume an environment's role: the GitHub jobs a trust policy admits.

Pure: data in, policy documents out. The trust policy admits one repository's jobs in one
GitHub environment and, where the repository customises its OIDC subject, one workflow at
one ref too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from release.errors import UsageError

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
AWS_AUDIENCE = "sts.amazonaws.com"
DEFAULT_BRANCH_REF = "refs/heads/main"
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# Workflows live directly in .github/workflows; names and refs are literal (no wildcard, no
# ':' that would split the subject, nothing a shell or a heredoc would expand).
_WORKFLOW_PATH = re.compile(r"^\.github/workflows/[A-Za-z0-9._-]+\.ya?ml$")
_REF = re.compile(r"^refs/(?:heads|tags)/[A-Za-z0-9._/-]{1,200}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_JOB_WORKFLOW_REF = re.compile(
    r"^(?P<repository>[^/@]+/[^/@]+)/(?P<path>\.github/workflows/[^@]+)@(?P<ref>.+)$")


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
