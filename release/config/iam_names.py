"""Names that become IAM resources or are passed to AWS as roles, checked to stay literal.

``release iam trust-policy`` writes the role's permissions from config: a cluster named
``*`` would grant ``ecs:UpdateService`` on every service, a ``taskRoleArn`` of ``*`` would
need ``iam:PassRole`` on every role. The schemas keep wildcards out of names; this module
checks what a pattern cannot: role ARNs (in config and in task definition templates)
belong to the environment's account unless another account is listed on purpose.

Pure: strings in, a (message, hint) pair or None out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from release.config.template import PLACEHOLDER

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[A-Za-z0-9+=,.@_/-]+$")
_TEMPLATE_ROLE_FIELDS = ("taskRoleArn", "executionRoleArn")
_ACCOUNT_PLACEHOLDER = "${account_id}"
_PLACEHOLDER_ACCOUNT = "000000000000"  # stands in for ${account_id} while checking the shape
# Placeholders in a role's name stand for a name (their values are checked names); any
# other placeholder cannot be checked here, so it counts as a wildcard.
_NAME_STAND_INS = {"env": "env", "service": "service", "region": "region"}


def role_problem(arn: str, account_id: str,
                 allowed: Iterable[str] = ()) -> tuple[str, str] | None:
    """Why ``arn`` may not be used as a role of an environment in ``account_id``."""
    match = ROLE_ARN.match(arn)
    if match is None:
        return (f"{arn!r} is not an IAM role ARN",
                "write arn:aws:iam::<account id>:role/<role name> (no wildcards)")
    account = match.group(1)
    others = tuple(allowed)
    if account == account_id or account in others:
        return None
    return (f"the role is in account {account}, not in this environment's account "
            f"{account_id}",
            f"use a role of account {account_id}; for a cross-account role, list "
            f"{account} under aws.role_accounts on purpose")


def template_roles(template: Any) -> list[tuple[tuple[str, ...], str]]:
    """The role ARNs a task definition template names: (field path, value)."""
    data = template
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        prefix, data = ("taskDefinition",), data["taskDefinition"]
    if not isinstance(data, dict):
        return []
    return [((*prefix, name), data[name]) for name in _TEMPLATE_ROLE_FIELDS
            if name in data and data[name] is not None]


def template_role_shape(value: Any) -> tuple[str, str] | None:
    """Why a template's role value is not a literal role ARN (``${account_id}`` allowed)."""
    if not isinstance(value, str):
        return ("a role must be an ARN string", "write arn:aws:iam::${account_id}:role/<name>")
    concrete = value.replace(_ACCOUNT_PLACEHOLDER, _PLACEHOLDER_ACCOUNT)
    concrete = PLACEHOLDER.sub(lambda m: _NAME_STAND_INS.get(m.group(1), "*"), concrete)
    if ROLE_ARN.match(concrete):
        return None
    return (f"{value[:80]!r} is not an IAM role ARN",
            "write arn:aws:iam::${account_id}:role/<role name> (no wildcards), or set the "
            "role per environment with ecs.task_role_arn / ecs.execution_role_arn")


def template_role_account(value: str, account_id: str,
                          allowed: Iterable[str]) -> tuple[str, str] | None:
    """A template role with a literal account other than the environment's."""
    if _ACCOUNT_PLACEHOLDER in value:
        return None
    return role_problem(value, account_id, allowed)
