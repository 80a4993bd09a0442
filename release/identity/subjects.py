"""Why a trust policy's subject condition does not admit a token's subject.

GitHub builds a subject from claim keys (``repo:O/R:environment:prod`` by default; a
repository may customise it to name the workflow and ref too). Where either side is
customised the subjects are compared claim by claim: the token's ref, its job_workflow_ref,
its environment, and whether the repository customises its subject the way the policy
expects; otherwise as one subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from release.identity.findings import Condition, Expected, Finding
from release.identity.github_settings import default_subject, subject_customization
from release.identity.trust import Binding


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


def subject_mismatches(cond: Condition, claims: Mapping[str, Any],
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
               + subject_customization(repository, want_keys).command())
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
            + default_subject(repository).command())
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
    want_ref = Binding(wanted.get("repo", ""), "", wanted.get("job_workflow_ref"),
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


def _subject_mismatch(cond: Condition, sub: str, expected: Expected) -> Finding:
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
