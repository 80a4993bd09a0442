"""`diagnose`: each way a trust policy and a GitHub OIDC token can disagree, one row each.

Claims here are plain dicts, as doctor decodes them from a token without verifying it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from release.identity import trust
from release.identity.diagnosis import diagnose
from release.identity.findings import Expected
from release.identity.subjects import claim_keys, customized, subject_parts

HOST = "token.actions.githubusercontent.com"
EXPECTED = Expected("123456789012", "acme/services", "prod")
GOOD_CLAIMS: dict[str, Any] = {
    "iss": f"https://{HOST}", "aud": "sts.amazonaws.com",
    "sub": "repo:acme/services:environment:prod", "environment": "prod",
    "repository": "acme/services", "ref": "refs/heads/main"}

Edit = Callable[[dict[str, Any]], None]


def good_policy() -> dict[str, Any]:
    return trust.trust_policy("aws", "123456789012", "acme/services", "prod")


def statement(policy: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = policy["Statement"][0]
    return result


def set_sub(value: Any, operator: str = "StringEquals") -> Edit:
    def edit(policy: dict[str, Any]) -> None:
        cond = statement(policy)["Condition"]
        del cond["StringEquals"][f"{HOST}:sub"]
        cond.setdefault(operator, {})[f"{HOST}:sub"] = value
    return edit


def set_aud(value: str) -> Edit:
    def edit(policy: dict[str, Any]) -> None:
        statement(policy)["Condition"]["StringEquals"][f"{HOST}:aud"] = value
    return edit


def drop(key: str) -> Edit:
    def edit(policy: dict[str, Any]) -> None:
        del statement(policy)["Condition"]["StringEquals"][f"{HOST}:{key}"]
    return edit


def set_field(name: str, value: Any) -> Edit:
    def edit(policy: dict[str, Any]) -> None:
        statement(policy)[name] = value
    return edit


def no_change(_policy: dict[str, Any]) -> None:
    pass


CASES: list[tuple[str, Edit, dict[str, Any] | None, list[str]]] = [
    ("matching policy and token", no_change, {}, []),
    ("branch subject, job in an environment",
     set_sub("repo:acme/services:ref:refs/heads/main"), {}, ["subject-form"]),
    ("job without environment",
     no_change, {"sub": "repo:acme/services:ref:refs/heads/main", "environment": None},
     ["environment-missing", "subject-form"]),
    ("subject differs in case", set_sub("repo:Acme/Services:environment:prod"), {},
     ["subject-case"]),
    ("--repo given in another case than GitHub's",
     no_change, {"repository": "Acme/services", "sub": "repo:Acme/services:environment:prod"},
     ["repository-case", "subject-case"]),
    ("token requested for another audience", no_change, {"aud": "https://github.com/acme"},
     ["token-audience", "audience"]),
    ("policy expects another audience", set_aud("sigstore"), {}, ["audience"]),
    ("provider of another account",
     set_field("Principal", {"Federated": f"arn:aws:iam::999999999999:oidc-provider/{HOST}"}),
     {}, ["provider"]),
    ("token from an enterprise issuer", no_change,
     {"iss": f"https://{HOST}/acme-enterprise"}, ["provider", "condition-key", "condition-key"]),
    ("wildcard too broad", set_sub("repo:acme/*", "StringLike"), {}, ["wildcard-too-broad"]),
    ("wildcard under StringEquals", set_sub("repo:acme/services:*"), {},
     ["wildcard-in-string-equals", "subject-mismatch"]),
    ("ForAllValues on sub", set_sub(["repo:acme/services:environment:prod"],
                                    "ForAllValues:StringLike"), {}, ["for-all-values"]),
    ("no subject condition", drop("sub"), {}, ["no-subject-condition"]),
    ("no audience condition", drop("aud"), {}, ["no-audience-condition"]),
    ("other repository", set_sub("repo:acme/other:environment:prod"), {},
     ["subject-repository"]),
    ("other environment", set_sub("repo:acme/services:environment:staging"), {},
     ["subject-environment"]),
    ("AssumeRole instead of AssumeRoleWithWebIdentity", set_field("Action", "sts:AssumeRole"),
     {}, ["action"]),
    ("job lacks id-token: write", no_change, None, ["no-token"]),
]


@pytest.mark.parametrize(("edit", "claim_changes", "codes"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mismatch_is_named(edit: Edit, claim_changes: dict[str, Any] | None,
                                codes: list[str]) -> None:
    policy = copy.deepcopy(good_policy())
    edit(policy)
    claims = None if claim_changes is None else {
        k: v for k, v in {**GOOD_CLAIMS, **claim_changes}.items() if v is not None}
    found = diagnose(policy, claims, EXPECTED)
    assert [f.code for f in found] == codes
    for finding in found:
        assert finding.message
        assert finding.fix


def test_there_are_at_least_six_distinct_mismatches() -> None:
    assert len({code for *_, codes in CASES for code in codes}) >= 6


def test_case_finding_says_case_sensitive_and_shows_the_token_value() -> None:
    policy = good_policy()
    set_sub("repo:Acme/Services:environment:prod")(policy)
    (finding,) = diagnose(policy, GOOD_CLAIMS, EXPECTED)
    assert "case-sensitively" in finding.message
    assert "repo:acme/services:environment:prod" in finding.fix


def test_missing_token_fix_is_the_permissions_yaml() -> None:
    (finding,) = diagnose(good_policy(), None, EXPECTED)
    assert "permissions:\n  id-token: write" in finding.fix


def test_the_best_statement_is_explained() -> None:
    policy = good_policy()
    wrong = copy.deepcopy(statement(policy))
    set_sub("repo:acme/other:environment:prod")({"Statement": [wrong]})
    policy["Statement"].insert(0, wrong)
    assert diagnose(policy, GOOD_CLAIMS, EXPECTED) == []


def test_warnings_do_not_hide_an_admitted_token() -> None:
    policy = good_policy()
    drop("aud")(policy)
    (finding,) = diagnose(policy, GOOD_CLAIMS, EXPECTED)
    assert finding.severity == "warning"


# --- a role bound to a workflow and ref (the repository customises its OIDC subject) -------

WORKFLOW = "acme/services/.github/workflows/deploy.yml"
BOUND = Expected("123456789012", "acme/services", "prod",
                 job_workflow_ref=f"{WORKFLOW}@refs/heads/main")
BOUND_SUB = f"repo:acme/services:environment:prod:job_workflow_ref:{WORKFLOW}@refs/heads/main"
BOUND_CLAIMS: dict[str, Any] = {**GOOD_CLAIMS, "sub": BOUND_SUB,
                                "job_workflow_ref": f"{WORKFLOW}@refs/heads/main"}
SET_SUBJECT = ("gh api --method PUT repos/acme/services/actions/oidc/customization/sub "
               "-F use_default=false -f 'include_claim_keys[]=repo' "
               "-f 'include_claim_keys[]=context' -f 'include_claim_keys[]=job_workflow_ref'")


def bound_policy(workflow: str | None = ".github/workflows/deploy.yml",
                 ref: str | None = "refs/heads/main") -> dict[str, Any]:
    binding = trust.bind("acme/services", "prod", workflow, ref)
    return trust.trust_policy("aws", "123456789012", "acme/services", "prod",
                                 binding=binding)


def from_branch(branch: str, workflow: str = WORKFLOW) -> dict[str, Any]:
    """Claims of a job in `prod` run on ``branch`` by ``workflow`` (customised subject)."""
    ref = f"refs/heads/{branch}"
    return {"ref": ref, "job_workflow_ref": f"{workflow}@{ref}",
            "sub": f"repo:acme/services:environment:prod:job_workflow_ref:{workflow}@{ref}"}


SHA = "0123456789abcdef0123456789abcdef01234567"
TOOLS = "acme/tools/.github/workflows/deploy.yml"

BOUND_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    ("token of the named workflow on main", bound_policy(), {}, []),
    ("token from another branch", bound_policy(), from_branch("feature-x"), ["subject-ref"]),
    ("token from a workflow the role does not name", bound_policy(),
     from_branch("main", "acme/services/.github/workflows/sneaky.yml"), ["subject-workflow"]),
    ("another workflow on another branch", bound_policy(),
     from_branch("feature-x", "acme/services/.github/workflows/sneaky.yml"),
     ["subject-ref", "subject-workflow"]),
    ("subject not customised", bound_policy(), {"sub": "repo:acme/services:environment:prod"},
     ["subject-not-customized"]),
    ("subject not customised, and another branch", bound_policy(),
     {**from_branch("feature-x"), "sub": "repo:acme/services:environment:prod"},
     ["subject-not-customized", "subject-ref"]),
    ("no environment claim", bound_policy(),
     {"environment": None, "sub": "repo:acme/services:ref:refs/heads/main:job_workflow_ref:"
                                  f"{WORKFLOW}@refs/heads/main"},
     ["environment-missing", "subject-form"]),
    ("job in another environment", bound_policy(),
     {"environment": "staging", "sub": "repo:acme/services:environment:staging:"
                                       f"job_workflow_ref:{WORKFLOW}@refs/heads/main"},
     ["subject-environment"]),
    ("token of another repository", bound_policy(),
     {"repository": "acme/other", "sub": "repo:acme/other:environment:prod:job_workflow_ref:"
                                         "acme/other/.github/workflows/deploy.yml@refs/heads/main",
      "job_workflow_ref": "acme/other/.github/workflows/deploy.yml@refs/heads/main"},
     ["subject-repository"]),
    ("policy not bound, subject customised", good_policy(), {}, ["subject-customized"]),
    ("policy bound to the ref, subject carries the workflow", bound_policy(None),
     {}, ["subject-claim-keys"]),
    ("ref-bound policy, token from another branch", bound_policy(None),
     {"ref": "refs/heads/feature-x",
      "sub": "repo:acme/services:environment:prod:ref:refs/heads/feature-x"},
     ["subject-ref"]),
    ("other repository's workflow at another commit",
     bound_policy(f"{TOOLS}@{SHA}", "refs/heads/main"),
     {"job_workflow_ref": f"{TOOLS}@{'f' * 40}",
      "sub": "repo:acme/services:environment:prod:ref:refs/heads/main:job_workflow_ref:"
             f"{TOOLS}@{'f' * 40}"},
     ["subject-workflow-ref"]),
    ("other repository's workflow at the pinned commit",
     bound_policy(f"{TOOLS}@{SHA}", "refs/heads/main"),
     {"job_workflow_ref": f"{TOOLS}@{SHA}",
      "sub": "repo:acme/services:environment:prod:ref:refs/heads/main:job_workflow_ref:"
             f"{TOOLS}@{SHA}"},
     []),
]


@pytest.mark.parametrize(("policy", "claim_changes", "codes"),
                         [c[1:] for c in BOUND_CASES], ids=[c[0] for c in BOUND_CASES])
def test_each_binding_mismatch_is_named(policy: dict[str, Any], claim_changes: dict[str, Any],
                                        codes: list[str]) -> None:
    claims = {k: v for k, v in {**BOUND_CLAIMS, **claim_changes}.items() if v is not None}
    found = diagnose(policy, claims, BOUND)
    assert [f.code for f in found] == codes
    for finding in found:
        assert finding.message
        assert finding.fix


def test_wrong_branch_says_which_ref_the_role_admits() -> None:
    claims = {**BOUND_CLAIMS, **from_branch("feature-x")}
    (finding,) = diagnose(bound_policy(), claims, BOUND)
    assert finding.message == ("the token's ref is refs/heads/feature-x; the role admits only "
                               "refs/heads/main")
    assert finding.fix.startswith("deploy from refs/heads/main")


def test_unnamed_workflow_says_which_one_the_role_admits() -> None:
    claims = {**BOUND_CLAIMS, **from_branch("main", "acme/services/.github/workflows/x.yml")}
    (finding,) = diagnose(bound_policy(), claims, BOUND)
    assert finding.message == ("the token comes from the workflow "
                               "acme/services/.github/workflows/x.yml; the role admits only "
                               f"{WORKFLOW}")


def test_missing_customisation_fix_is_the_gh_api_call() -> None:
    claims = {**BOUND_CLAIMS, "sub": "repo:acme/services:environment:prod"}
    (finding,) = diagnose(bound_policy(), claims, BOUND)
    assert finding.message == (
        "the token's subject 'repo:acme/services:environment:prod' lacks job_workflow_ref, "
        f"which the policy's subject '{BOUND_SUB}' names: the repository does not customise "
        "its OIDC subject")
    assert finding.fix.endswith("\n" + SET_SUBJECT)


def test_customised_subject_against_an_unbound_policy_says_how_to_bind() -> None:
    (finding,) = diagnose(good_policy(), BOUND_CLAIMS, EXPECTED)
    assert ("`release iam trust-policy --env prod --repo acme/services --workflow "
            ".github/workflows/deploy.yml --ref refs/heads/main`") in finding.fix
    assert finding.fix.endswith(
        "\ngh api --method PUT repos/acme/services/actions/oidc/customization/sub "
        "-F use_default=true")


def test_the_bound_expected_subject_is_githubs_customised_form() -> None:
    assert BOUND.subject == BOUND_SUB
    policy = bound_policy()
    drop("sub")(policy)
    (finding,) = diagnose(policy, BOUND_CLAIMS, BOUND)
    assert finding.code == "no-subject-condition"
    assert finding.fix == f"require StringEquals {HOST}:sub = '{BOUND_SUB}'"


@pytest.mark.parametrize(("sub", "parts", "keys"), [
    ("repo:a/b:environment:prod", (("repo", "a/b"), ("environment", "prod")),
     ("repo", "context")),
    ("repo:a/b:ref:refs/heads/main", (("repo", "a/b"), ("ref", "refs/heads/main")),
     ("repo", "context")),
    ("repo:a/b:pull_request", (("repo", "a/b"), ("pull_request", "")), ("repo", "context")),
    (f"repo:a/b:environment:prod:job_workflow_ref:{WORKFLOW}@refs/heads/main",
     (("repo", "a/b"), ("environment", "prod"),
      ("job_workflow_ref", f"{WORKFLOW}@refs/heads/main")),
     ("repo", "context", "job_workflow_ref")),
    ("repo:a/b:environment:prod:ref:refs/heads/main",
     (("repo", "a/b"), ("environment", "prod"), ("ref", "refs/heads/main")),
     ("repo", "context", "ref")),
    ("repository_owner:monalisa:repository_visibility:private",
     (("repository_owner", "monalisa"), ("repository_visibility", "private")),
     ("repository_owner", "repository_visibility")),
])
def test_subjects_split_into_githubs_claim_keys(sub: str, parts: tuple[tuple[str, str], ...],
                                                keys: tuple[str, ...]) -> None:
    assert subject_parts(sub) == parts
    assert claim_keys(parts) == keys
    assert customized(sub) is (keys != ("repo", "context"))
