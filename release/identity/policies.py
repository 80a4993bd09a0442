"""IAM documents for one environment: who may assume the role, and what the role may do.

The pieces live in ``trust`` (the trust policy and its binding), ``github_settings`` (the
``gh api`` calls that go with it) and ``permissions`` (the role's permissions policy); this
module gathers them under the one name the commands use.
"""

from __future__ import annotations

from release.identity.github_settings import (
    MAX_REVIEWERS,
    PLACEHOLDER_TEAM,
    GhApiCall,
    Reviewer,
    default_subject,
    environment_protection,
    production_like,
    subject_customization,
)
from release.identity.permissions import (
    ECR_PUSH,
    LAMBDA_DEPLOY,
    EcsService,
    Resources,
    parameter_resource,
    permissions_policy,
    secret_resource,
)
from release.identity.trust import (
    AWS_AUDIENCE,
    DEFAULT_BRANCH_REF,
    GITHUB_ISSUER_HOST,
    Binding,
    bind,
    literal,
    subject,
    trust_policy,
    valid_repository,
)

__all__ = [
    "AWS_AUDIENCE",
    "DEFAULT_BRANCH_REF",
    "ECR_PUSH",
    "GITHUB_ISSUER_HOST",
    "LAMBDA_DEPLOY",
    "MAX_REVIEWERS",
    "PLACEHOLDER_TEAM",
    "Binding",
    "EcsService",
    "GhApiCall",
    "Resources",
    "Reviewer",
    "bind",
    "default_subject",
    "environment_protection",
    "literal",
    "parameter_resource",
    "permissions_policy",
    "production_like",
    "secret_resource",
    "subject",
    "subject_customization",
    "trust_policy",
    "valid_repository",
]
