"""``release doctor --env ENV``: why AssumeRoleWithWebIdentity is (or would be) refused.

Reads the role's trust policy (IAM GetRole, or ``--policy-file``) and the job's OIDC token
claims, and explains every mismatch in plain words: including, for a role bound to a workflow
and ref (``release iam trust-policy --workflow/--ref``), a token from another branch or
workflow, or one whose subject the repository has not customised. The token is decoded
WITHOUT verifying its signature: doctor explains, AWS decides.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from release.adapters import github_masks, oidc
from release.adapters.aws.clients import AwsClients, explain
from release.config import load_config
from release.config.model import AwsAccount
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.identity import diagnosis, policies
from release.output import envelope, table


@dataclass(frozen=True)
class Options:
    """Which environment's role to check, against which repository."""

    root: Path
    environment: str
    repository: str | None = None  # default: the token's repository claim
    policy_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    workflow: str | None = None  # as `iam trust-policy --workflow`: what the role should bind
    ref: str | None = None  # as `iam trust-policy --ref`


@dataclass
class Deps:
    """The outside world, replaced in tests."""

    tokens: Callable[[Mapping[str, str]], Callable[[str], str]] = oidc.TokenSource.from_environ
    iam: Callable[[AwsAccount, Mapping[str, str]], Any] = (
        lambda account, environ: AwsClients(account, environ=environ).client("iam"))
    stdout: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass(frozen=True)
class Result:
    """The findings; exit code 1 when any is an error."""

    environment: str
    role_arn: str
    claims: dict[str, Any]
    findings: tuple[diagnosis.Finding, ...]

    @property
    def exit_code(self) -> int:
        """1 when the role would refuse the token."""
        return EXIT_FAILED if any(f.severity == "error" for f in self.findings) else EXIT_OK

    def to_text(self) -> str:
        """What the token says, then each finding with its fix."""
        shown = {k: self.claims.get(k) for k in ("iss", "aud", "sub", "environment", "ref",
                                                      "job_workflow_ref")}
        lines = [f"role: {self.role_arn}",
                 "token claims (decoded without verifying the signature):",
                 *(f"  {k}: {v}" for k, v in shown.items() if v is not None)]
        if not self.claims:
            lines.append("  (no token)")
        if not self.findings:
            return "\n".join([*lines, "", "the trust policy admits this token: no problem found"])
        lines += ["", table(["SEVERITY", "CHECK", "WHAT IS WRONG"],
                            [(f.severity, f.code, f.message) for f in self.findings])]
        for f in self.findings:
            fix = f.fix.replace("\n", "\n       ")
            lines.append(f"\n{f.code}: {f.message}\n  fix: {fix}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON: claims and findings."""
        return envelope("doctor", {"environment": self.environment, "role_arn": self.role_arn,
                                   "claims": self.claims,
                                   "findings": [asdict(f) for f in self.findings]})


def read_trust_policy(iam: Any, role_arn: str) -> dict[str, Any]:
    """The role's trust policy document (GetRole), parsed."""
    name = role_arn.rsplit("/", 1)[-1]
    try:
        document = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "NoSuchEntity":
            raise ReleaseError(f"role {role_arn} does not exist",
                               "create it with the documents `release iam trust-policy` "
                               "prints") from None
        error = explain(exc, f"read the trust policy of {name} (iam:GetRole)")
        if code in {"AccessDenied", "AccessDeniedException"}:
            error.hint = ("doctor needs credentials allowed iam:GetRole on the role, or pass "
                          "the policy with --policy-file")
        raise error from None
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    if not isinstance(document, dict):
        raise ReleaseError(f"the trust policy of {role_arn} is not a JSON object")
    return document


def _claims(options: Options, deps: Deps) -> dict[str, Any] | None:
    try:
        source = deps.tokens(options.environ)
    except oidc.MissingPermissionError:
        return None
    token = source(oidc.AWS_AUDIENCE)
    if options.environ.get("GITHUB_ACTIONS") == "true":
        github_masks.mask(token, stream=deps.stdout)
    return oidc.unverified_claims(token)


def run(options: Options, deps: Deps | None = None) -> Result:
    """Diagnose the environment's role against this job's token."""
    deps = deps or Deps()
    env = load_config(options.root, (options.environment,)).environments[options.environment]
    if env.aws is None:
        raise UsageError(f"{env.path} has no aws block", "doctor checks the AWS role")
    if options.policy_file is not None:
        try:
            policy = json.loads(options.policy_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --policy-file {options.policy_file}: {exc}") from None
    else:
        policy = read_trust_policy(deps.iam(env.aws, options.environ), env.aws.role_arn)
    claims = _claims(options, deps)
    repository = options.repository or str((claims or {}).get("repository", ""))
    if not policies.valid_repository(repository):
        raise UsageError("which repository should the role admit?",
                         "pass --repo OWNER/REPO (no token was available to read it from)")
    try:
        binding = policies.bind(repository, env.name, options.workflow, options.ref)
    except ValueError as exc:
        raise UsageError(str(exc), "give them as to `release iam trust-policy`") from None
    issuer = str((claims or {}).get("iss", "")).removeprefix("https://").removeprefix("http://")
    expected = diagnosis.Expected(env.aws.account_id, repository, env.name,
                                  partition=env.aws.role_arn.split(":")[1],
                                  issuer_host=issuer or policies.GITHUB_ISSUER_HOST,
                                  job_workflow_ref=binding.job_workflow_ref, ref=binding.ref)
    findings = diagnosis.diagnose(policy, claims, expected)
    return Result(env.name, env.aws.role_arn, claims or {}, tuple(findings))


def register(sub: Any) -> None:
    """Add ``doctor`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor", help="explain why the role would refuse this job's OIDC token",
        description="Compare the environment role's trust policy with the job's GitHub OIDC "
                    "token claims (decoded, not verified) and explain each mismatch: wrong "
                    "subject form, environment, repository or audience, and for a role bound "
                    "to a workflow and ref (a customised subject), a token from another "
                    "branch or workflow, or one whose subject the repository does not "
                    "customise (with the gh api call that does).")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("--repo", metavar="OWNER/REPO",
                        help="repository the role should admit (default: the token's)")
    parser.add_argument("--policy-file", type=Path, metavar="FILE",
                        help="read the trust policy from FILE instead of IAM GetRole")
    parser.add_argument("--workflow", metavar="FILE|JOB_WORKFLOW_REF",
                        help="the workflow the role should be bound to, as for `release iam "
                             "trust-policy` (only changes the fixes doctor suggests: the "
                             "policy's own subject says what it admits)")
    parser.add_argument("--ref", metavar="REF",
                        help="the ref the role should be bound to (refs/heads/main), as for "
                             "`release iam trust-policy`")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, args.repo, args.policy_file, args.environ, args.workflow,
        args.ref)))
