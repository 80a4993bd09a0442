"""Why a role's trust policy does (not) admit a GitHub OIDC token, in plain words.

Pure: the trust policy document, the token's claims (decoded WITHOUT verifying the
signature: this explains, AWS decides) and what the environment expects, in; findings out.
A policy whose subject names the workflow and ref too (a customised subject) is checked
claim by claim: the token's ref, its job_workflow_ref, its environment, and whether the
repository customises its subject the way the policy expects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from release.identity.findings import Condition, Expected, Finding
from release.identity.subjects import subject_mismatches

__all__ = ["PERMISSIONS_YAML", "WEB_IDENTITY", "Expected", "Finding", "diagnose"]

WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
PERMISSIONS_YAML = "permissions:\n  id-token: write\n  contents: read"


def _values(node: Any) -> list[str]:
    return [str(v) for v in node] if isinstance(node, list) else [str(node)]


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _matches(operator: str, patterns: list[str], value: str | None) -> bool:
    base = operator.split(":", 1)[-1]
    if value is None:
        return operator.startswith("ForAllValues:")  # vacuously true for a missing key
    if base.startswith("StringEqualsIgnoreCase"):
        return value.lower() in [p.lower() for p in patterns]
    if base.startswith("StringLike"):
        return any(_like(p, value) for p in patterns)
    return value in patterns


def _conditions(statement: Mapping[str, Any]) -> list[Condition]:
    out = []
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, node in (keys or {}).items():
            host, _, claim = str(key).rpartition(":")
            out.append(Condition(str(operator), claim.lower(), host.lower(), _values(node)))
    return out


def _allows_web_identity(statement: Mapping[str, Any]) -> bool:
    actions = _values(statement.get("Action", []))
    return statement.get("Effect") == "Allow" and any(
        a in {WEB_IDENTITY, "sts:*", "*"} or a.lower() == WEB_IDENTITY.lower() for a in actions)


def diagnose(trust_policy: Mapping[str, Any], claims: Mapping[str, Any] | None,
             expected: Expected) -> list[Finding]:
    """Every reason ``trust_policy`` would refuse ``claims``, and every needless risk in it."""
    findings: list[Finding] = []
    if claims is None:
        findings.append(Finding(
            "no-token", "error", "the job could not request an OIDC token (no "
            "ACTIONS_ID_TOKEN_REQUEST_URL): it lacks the id-token permission",
            f"add to the job or the workflow:\n{PERMISSIONS_YAML}"))
        claims = {"sub": expected.subject, "aud": expected.audience,
                  "iss": f"https://{expected.issuer_host}", "environment": expected.environment,
                  "repository": expected.repository}
    findings += _claim_findings(claims, expected)
    statements = trust_policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    ours = [s for s in statements if _allows_web_identity(s)]
    if not ours:
        federated = any("Federated" in (s.get("Principal") or {}) for s in statements)
        return [*findings, Finding(
            "action", "error", "no statement allows sts:AssumeRoleWithWebIdentity"
            + (" (a federated principal with another action, e.g. sts:AssumeRole, does not "
               "cover it)" if federated else ""),
            "set \"Action\": \"sts:AssumeRoleWithWebIdentity\"; "
            "`release iam trust-policy` prints a policy that works")]
    per_statement = [_statement_findings(s, claims, expected) for s in ours]
    return findings + min(per_statement, key=lambda f: (_errors(f), len(f)))


def _errors(findings: Sequence[Finding]) -> int:
    return sum(f.severity == "error" for f in findings)


def _claim_findings(claims: Mapping[str, Any], expected: Expected) -> list[Finding]:
    out = []
    sub = str(claims.get("sub", ""))
    if not claims.get("environment") and expected.environment:
        out.append(Finding(
            "environment-missing", "error",
            f"the token has no environment claim (sub is '{sub}'): the job does not run in "
            f"the GitHub environment '{expected.environment}'",
            f"add `environment: {expected.environment}` to the deploy job; its token's subject "
            f"then becomes '{expected.subject}'"))
    repository = str(claims.get("repository", ""))
    if repository and repository != expected.repository \
            and repository.lower() == expected.repository.lower():
        out.append(Finding(
            "repository-case", "error",
            f"the repository is '{repository}' in the token but '{expected.repository}' was "
            "given: names differ in case, and AWS and Azure compare subjects case-sensitively",
            f"use the exact case GitHub puts in the token: --repo {repository}"))
    aud = claims.get("aud")
    auds = _values(aud) if aud is not None else []
    if expected.audience not in auds:
        out.append(Finding(
            "token-audience", "error",
            f"the token's audience is {auds or 'missing'}, not '{expected.audience}'",
            f"request the token with audience={expected.audience} (release auth aws does)"))
    return out


def _statement_findings(statement: Mapping[str, Any], claims: Mapping[str, Any],
                        expected: Expected) -> list[Finding]:
    out: list[Finding] = []
    iss = str(claims.get("iss", ""))
    host = re.sub(r"^https?://", "", iss).rstrip("/").lower() or expected.issuer_host
    federated = _values((statement.get("Principal") or {}).get("Federated", []))
    wanted = f"arn:{expected.partition}:iam::{expected.account_id}:oidc-provider/{host}"
    if wanted not in federated:
        out.append(Finding(
            "provider", "error",
            f"the role trusts {federated or 'no federated principal'}, but the token comes "
            f"from issuer {iss or host} (provider {wanted})",
            f"trust the IAM OIDC provider {wanted}; create it if the account lacks one"))
    conditions = _conditions(statement)
    for cond in conditions:
        if cond.host and cond.host != host and cond.claim in {"sub", "aud"}:
            out.append(Finding(
                "condition-key", "error",
                f"the condition key '{cond.host}:{cond.claim}' names another issuer than the "
                f"token's ({host}), so it never matches", f"use '{host}:{cond.claim}'"))
    subs = [c for c in conditions if c.claim == "sub"]
    if not subs:
        out.append(Finding(
            "no-subject-condition", "error",
            "the policy has no condition on 'sub': any repository on GitHub can assume the role",
            f"require StringEquals {host}:sub = '{expected.subject}'"))
    for cond in subs:
        out += _subject_findings(cond, claims, expected)
    auds = [c for c in conditions if c.claim == "aud"]
    if not auds:
        out.append(Finding("no-audience-condition", "warning",
                           "the policy does not check the audience",
                           f"require StringEquals {host}:aud = '{expected.audience}'"))
    for cond in auds:
        aud = claims.get("aud")
        if not any(_matches(cond.operator, cond.patterns, a)
                   for a in (_values(aud) if aud is not None else [None])):
            out.append(Finding(
                "audience", "error",
                f"the policy wants audience {cond.patterns}, the token has '{aud}'",
                f"set {host}:aud to '{expected.audience}' and request tokens for it"))
    return out


def _subject_findings(cond: Condition, claims: Mapping[str, Any],
                      expected: Expected) -> list[Finding]:
    out = []
    sub = str(claims.get("sub", ""))
    base = cond.operator.split(":", 1)[-1]
    if cond.operator.startswith("ForAllValues:"):
        out.append(Finding(
            "for-all-values", "error",
            f"'{cond.operator}' on 'sub' also passes when the key is missing, and 'sub' holds "
            "one value: the operator is for multi-valued keys",
            f"use StringEquals {cond.host}:sub = '{expected.subject}'"))
    wild = [p for p in cond.patterns if "*" in p or "?" in p]
    if wild and base.startswith("StringEquals"):
        out.append(Finding(
            "wildcard-in-string-equals", "error",
            f"StringEquals compares literally: {wild} only matches a subject that contains "
            "the '*' itself, so no token ever matches",
            f"write the exact subject '{expected.subject}' (or use StringLike, less safely)"))
    elif wild:
        out.append(Finding(
            "wildcard-too-broad", "warning",
            f"{cond.operator} {wild} admits more than this environment's deploy jobs (other "
            "branches, pull requests, other environments or repositories)",
            f"use StringEquals {cond.host}:sub = '{expected.subject}'"))
    if _matches(cond.operator, cond.patterns, sub):
        return out
    return [*out, *subject_mismatches(cond, claims, expected)]
