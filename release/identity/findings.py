"""What a trust-policy diagnosis works with: what the environment expects of a GitHub OIDC
token, one condition of the policy, and the findings it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from release.identity.trust import AWS_AUDIENCE, GITHUB_ISSUER_HOST, Binding


@dataclass(frozen=True)
class Expected:
    """What the environment's release expects of the token."""

    account_id: str
    repository: str  # OWNER/REPO
    environment: str  # the GitHub environment the deploy job runs in
    partition: str = "aws"
    audience: str = AWS_AUDIENCE
    issuer_host: str = GITHUB_ISSUER_HOST
    job_workflow_ref: str | None = None  # when the role should be bound to a workflow
    ref: str | None = None  # when the role should be bound to a ref the workflow lacks

    @property
    def binding(self) -> Binding:
        """Which jobs the role should admit."""
        return Binding(self.repository, self.environment, self.job_workflow_ref, self.ref)

    @property
    def subject(self) -> str:
        """The exact ``sub`` the trust policy should require."""
        return self.binding.subject

    @property
    def provider(self) -> str:
        """The IAM OIDC provider ARN the policy should trust."""
        return f"arn:{self.partition}:iam::{self.account_id}:oidc-provider/{self.issuer_host}"


@dataclass(frozen=True)
class Finding:
    """One mismatch or risk, with how to fix it."""

    code: str
    severity: Literal["error", "warning"]
    message: str
    fix: str


@dataclass(frozen=True)
class Condition:
    """One condition of a trust policy statement on one claim of the issuer's tokens."""

    operator: str
    claim: str  # sub, aud, ... (the part after "<issuer>:")
    host: str
    patterns: list[str]
