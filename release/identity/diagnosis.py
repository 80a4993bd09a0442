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
from dataclasses import dataclass
from typing import Any, Literal

from release.identity import policies
from release.identity.policies import AWS_AUDIENCE, GITHUB_ISSUER_HOST

WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
PERMISSIONS_YAML = "permissions:\n  id-token: write\n  contents: read"


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
    def binding(self) -> policies.Binding:
        """Which jobs the role should admit."""
        return policies.Binding(self.repository, self.environment, self.job_workflow_ref,
                                self.ref)

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


@dataclass(frozen=True)
class _Condition:
    operator: str
    claim: str  # sub, aud, ... (the part after "<issuer>:")
    host: str
    patterns: list[str]


def _conditions(statement: Mapping[str, Any]) -> list[_Condition]:
    out = []
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, node in (keys or {}).items():
            host, _, claim = str(key).rpartition(":")
            out.append(_Condition(str(operator), claim.lower(), host.lower(), _values(node)))
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


def _subject_findings(cond: _Condition, claims: Mapping[str, Any],
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
    return [*out, *_subject_mismatches(cond, claims, expected)]


def subject_parts(sub: str) -> tuple[tuple[str, str], ...]:
    """A subject as GitHub builds it, split into its (key, value) pairs, in order:
    ``repo:O/R:environment:prod:job_workflow_ref:W@R`` gives repo, environment and
    job_workflow_ref (values never hold ':': GitHub writes it %3A)."""
    tokens = sub.split(":") if sub else []
    out, index = [], 0
    while index < len(tokens):
        key = tokens[index]
        if key == "pull_request":  # the one context without a value
            out.append((key, ""))
            index += 1
        else:
            out.append((key, tokens[index + 1] if index + 1 < len(tokens) else ""))
            index += 2
    return tuple(out)


def claim_keys(parts: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The ``include_claim_keys`` that build a subject of these parts: what follows ``repo``
    in GitHub's default form (environment, ref or pull_request) is the ``context`` key."""
    keys = [key for key, _ in parts]
    if len(keys) > 1 and keys[0] == "repo" and keys[1] in {"environment", "ref", "pull_request"}:
        keys[1] = "context"
    return tuple(keys)


def customized(sub: str) -> bool:
    """True for a literal subject built from other claims than GitHub's default repo+context."""
    if not sub or "*" in sub or "?" in sub:
        return False
    return claim_keys(subject_parts(sub)) != ("repo", "context")


def _subject_mismatches(cond: _Condition, claims: Mapping[str, Any],
                        expected: Expected) -> list[Finding]:
    """Why no pattern admits the token's subject: claim by claim where either side is
    customised (workflow, ref), else as one finding."""
    sub = str(claims.get("sub", ""))
    bound = [p for p in cond.patterns if customized(p)]
    if any(p.lower() == sub.lower() for p in cond.patterns) or not (bound or customized(sub)):
        return [_subject_mismatch(cond, sub, expected)]
    return min((_binding_mismatch(p, claims, expected)
                for p in bound or cond.patterns), key=len)


def _binding_mismatch(pattern: str, claims: Mapping[str, Any],
                      expected: Expected) -> list[Finding]:
    sub = str(claims.get("sub", ""))
    want, have = subject_parts(pattern), subject_parts(sub)
    wanted, had = dict(want), dict(have)
    token_repo = str(claims.get("repository") or had.get("repo", ""))
    if wanted.get("repo") and token_repo and wanted["repo"] != token_repo:
        return [Finding("subject-repository", "error",
                        f"the policy admits '{pattern}', not the token's repository "
                        f"'{token_repo}' (subject '{sub}')",
                        f"set the policy's sub to '{expected.subject}' (StringEquals)")]
    template = _template_finding(pattern, sub, claims, expected)
    out = [template] if template else []
    out += _environment_findings(pattern, wanted, claims)
    out += _ref_findings(wanted, claims, had)
    return out or [Finding("subject-mismatch", "error",
                           f"the policy admits '{pattern}'; the token's subject is '{sub}'",
                           f"set the policy's sub to '{expected.subject}' (StringEquals)")]


def _template_finding(pattern: str, sub: str, claims: Mapping[str, Any],
                      expected: Expected) -> Finding | None:
    """The policy's subject and the token's are built from different claims."""
    want_keys, have_keys = claim_keys(subject_parts(pattern)), claim_keys(subject_parts(sub))
    if want_keys == have_keys:
        return None
    repository = dict(subject_parts(pattern)).get("repo") or expected.repository
    setting = ("as a repository admin; it changes the subject of every job of "
               f"{repository}):\n"
               + policies.subject_customization(repository, want_keys).command())
    if not customized(sub):
        missing = [k for k in want_keys if k not in have_keys]
        return Finding(
            "subject-not-customized", "error",
            f"the token's subject '{sub}' lacks {', '.join(missing)}, which the policy's "
            f"subject '{pattern}' names: the repository does not customise its OIDC subject",
            f"set the subject customisation ({setting}")
    if not customized(pattern):
        return Finding(
            "subject-customized", "error",
            f"the repository customises its OIDC subject (claims {', '.join(have_keys)}: "
            f"'{sub}'), but the policy expects GitHub's default form '{pattern}'",
            "bind the role to the workflow and ref as well: "
            f"{_rebind(claims, have_keys, expected)} prints the matching policy; or give the "
            "repository the default subject back:\n"
            + policies.default_subject(repository).command())
    return Finding(
        "subject-claim-keys", "error",
        f"the policy's subject is made of the claims {', '.join(want_keys)} ('{pattern}'), "
        f"the token's of {', '.join(have_keys)} ('{sub}')",
        f"make the repository's subject customisation the policy's ({setting}")


def _rebind(claims: Mapping[str, Any], keys: tuple[str, ...], expected: Expected) -> str:
    command = f"`release iam trust-policy --env {expected.environment} --repo " \
              f"{expected.repository}"
    workflow = str(claims.get("job_workflow_ref", ""))
    if "job_workflow_ref" in keys and workflow:
        local = workflow.removeprefix(f"{expected.repository}/")
        command += (f" --workflow {local.split('@', 1)[0]} --ref {local.split('@', 1)[1]}"
                    if local != workflow and "@" in local else f" --workflow {workflow}")
    elif "ref" in keys and claims.get("ref"):
        command += f" --ref {claims['ref']}"
    return command + "`"


def _environment_findings(pattern: str, wanted: Mapping[str, str],
                          claims: Mapping[str, Any]) -> list[Finding]:
    if "environment" not in wanted:
        return []
    env = claims.get("environment")
    if not env:
        return [Finding("subject-form", "error",
                        f"the policy expects an environment subject '{pattern}', but the "
                        "token has no environment claim: the job declares no environment",
                        f"add `environment: {wanted['environment']}` to the job")]
    if env != wanted["environment"]:
        return [Finding("subject-environment", "error",
                        f"the policy admits the GitHub environment '{wanted['environment']}', "
                        f"but the job runs in '{env}'",
                        f"run the job in `environment: {wanted['environment']}`, or assume "
                        f"the role of '{env}'")]
    return []


def _ref_findings(wanted: Mapping[str, str], claims: Mapping[str, Any],
                  had: Mapping[str, str]) -> list[Finding]:
    """The token's branch and workflow against the ones the policy's subject names."""
    out = []
    want_ref = policies.Binding(wanted.get("repo", ""), "", wanted.get("job_workflow_ref"),
                                wanted.get("ref")).bound_ref
    token_ref = str(claims.get("ref") or had.get("ref") or "")
    if want_ref and token_ref and token_ref != want_ref:
        out.append(Finding(
            "subject-ref", "error",
            f"the token's ref is {token_ref}; the role admits only {want_ref}",
            f"deploy from {want_ref} (merge first, or dispatch the workflow on it); restrict "
            "the environment's deployment branches to it so GitHub stops such runs before "
            "they ask AWS (`release iam trust-policy` prints the gh api calls)"))
    want_workflow = wanted.get("job_workflow_ref")
    token_workflow = str(claims.get("job_workflow_ref") or had.get("job_workflow_ref") or "")
    if not want_workflow or not token_workflow or token_workflow == want_workflow:
        return out
    want_file, _, want_at = want_workflow.partition("@")
    token_file, _, token_at = token_workflow.partition("@")
    if want_file != token_file:
        out.append(Finding(
            "subject-workflow", "error",
            f"the token comes from the workflow {token_file}; the role admits only {want_file}",
            f"run the deploy jobs in {want_file} (a workflow the role does not name, e.g. "
            "one added on a branch, must not get the role); if the deploy jobs moved, bind "
            "the role to the new workflow with `release iam trust-policy --workflow`"))
    elif not out:
        out.append(Finding(
            "subject-workflow-ref", "error",
            f"the token's workflow {token_file} runs at {token_at}; the role admits it only "
            f"at {want_at}",
            f"call the workflow at {want_at}, or bind the role to {token_workflow} with "
            "`release iam trust-policy --workflow`"))
    return out


def _subject_mismatch(cond: _Condition, sub: str, expected: Expected) -> Finding:
    patterns = cond.patterns
    fix = f"set {cond.host}:sub to '{expected.subject}' (StringEquals)"
    if any(p.lower() == sub.lower() for p in patterns):
        return Finding("subject-case", "error",
                       f"the policy's subject {patterns} differs from the token's '{sub}' only "
                       "in case; AWS StringEquals (and Azure federated credentials) compare "
                       "case-sensitively", f"copy the case from the token: '{sub}'")
    if ":environment:" in sub and all(":ref:" in p or ":pull_request" in p for p in patterns):
        return Finding("subject-form", "error",
                       f"the job runs in a GitHub environment, so its subject is '{sub}'; the "
                       f"policy expects the branch/tag form {patterns}, which GitHub only uses "
                       "for jobs without an environment", fix)
    if ":environment:" not in sub and all(":environment:" in p for p in patterns):
        return Finding("subject-form", "error",
                       f"the policy expects an environment subject {patterns}, but the token's "
                       f"is '{sub}': the job declares no environment",
                       f"add `environment: {expected.environment}` to the job")
    token_repo = sub.split(":")[1] if sub.count(":") >= 2 else ""
    same_repo = [p for p in patterns if p.startswith(f"repo:{token_repo}:environment:")]
    if token_repo and ":environment:" in sub and same_repo:
        return Finding("subject-environment", "error",
                       f"the policy admits GitHub environment(s) "
                       f"{[p.rsplit(':', 1)[-1] for p in same_repo]}, but the job runs in "
                       f"'{sub.rsplit(':', 1)[-1]}'",
                       f"{fix}, or run the job in `environment: {expected.environment}`")
    if token_repo and not any(p.startswith(f"repo:{token_repo}:") for p in patterns):
        return Finding("subject-repository", "error",
                       f"the policy admits {patterns}, not the token's repository "
                       f"'{token_repo}' (subject '{sub}')", fix)
    return Finding("subject-mismatch", "error",
                   f"the policy admits {patterns}; the token's subject is '{sub}'", fix)
