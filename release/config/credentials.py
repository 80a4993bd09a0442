"""Refuse plaintext credentials in environment variables: they belong in ``secrets:``."""

from __future__ import annotations

import re

_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL")
# Plurals that still name secrets; MAX_TOKENS or NUM_TOKENS count tokens, they hold none.
_PLURALS = ("SECRETS", "PASSWORDS", "CREDENTIALS")
_EXPLICIT = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def looks_secret(name: str, value: str) -> str | None:
    """Why ``name=value`` looks like a credential, or None when it does not."""
    upper = name.upper()
    if upper in _EXPLICIT:
        return f"'{name}' is an AWS credential"
    if _AWS_KEY_ID.search(value):
        return f"the value of '{name}' looks like an AWS access key id"
    if "-----BEGIN" in value and "PRIVATE KEY" in value:
        return f"the value of '{name}' is a private key"
    words = re.split(r"[_\-]", upper)
    for word in _SECRET_WORDS:
        if any(part == word or (part == word + "S" and part in _PLURALS) for part in words):
            return f"'{name}' is named like a secret ({word})"
    if words[-1] == "KEY" and len(words) > 1:
        return f"'{name}' is named like a key (*_KEY)"
    return None


def secrets_hint(service: str, name: str, region: str, account_id: str, env: str) -> str:
    """The YAML to write instead of a plaintext credential."""
    param = name.lower().replace("_", "-")
    return (
        "store the value in SSM Parameter Store (or Secrets Manager) and reference it by ARN:\n"
        f"  services:\n    {service}:\n      ecs:\n        secrets:\n"
        f"          {name}: arn:aws:ssm:{region}:{account_id}:parameter/{env}/{service}/{param}"
    )
