"""`diagnose`: each way a trust policy and a GitHub OIDC token can disagree, one row each.

Claims here are plain dicts, as doctor decodes them from a token without verifying it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from release.identity import policies
from release.identity.diagnosis import Expected, diagnose

HOST = "token.actions.githubusercontent.com"
EXPECTED = Expected("123456789012", "acme/services", "prod")
GOOD_CLAIMS: dict[str, Any] = {
    "iss": f"https://{HOST}", "aud": "sts.amazonaws.com",
    "sub": "repo:acme/services:environment:prod", "environment": "prod",
    "repository": "acme/services", "ref": "refs/heads/main"}

Edit = Callable[[dict[str, Any]], None]


def good_policy() -> dict[str, Any]:
    return policies.trust_policy("aws", "123456789012", "acme/services", "prod")


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
