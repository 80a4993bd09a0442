"""`release doctor` end to end: a role in moto (server mode), a token from the local issuer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from oidc_helpers import RunningIssuer, make_repo

from release.cli import main
from release.identity import trust


def _create_role(endpoint: str, name: str, policy: dict[str, Any]) -> str:
    client = boto3.client("iam", endpoint_url=endpoint, region_name="eu-west-1",
                          aws_access_key_id="t", aws_secret_access_key="t")
    try:
        client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
    finally:
        client.close()
    return f"arn:aws:iam::123456789012:role/{name}"


def _doctor(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any]:
    code = main(["doctor", "--env", "test", "--root", str(root), "--output", "json", *extra],
                environ=dict(os.environ))  # the fixtures' OIDC variables
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"] if out.strip() else err


@pytest.fixture
def in_environment(issuer: RunningIssuer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Tokens say: repository acme/services, GitHub environment `test`; returns the issuer host."""
    issuer.claims_file.write_text(json.dumps({"repository": "acme/services",
                                              "environment": "test"}))
    for key, value in issuer.environ().items():
        monkeypatch.setenv(key, value)
    return issuer.issuer.url.removeprefix("http://")


def test_branch_subject_for_an_environment_job_is_explained(
        tmp_path: Path, moto_endpoint: str, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    policy = trust.trust_policy("aws", "123456789012", "acme/services", "test",
                                   issuer_host=in_environment)
    policy["Statement"][0]["Condition"]["StringEquals"][f"{in_environment}:sub"] = \
        "repo:acme/services:ref:refs/heads/main"
    role = _create_role(moto_endpoint, "doctor-branch", policy)
    code, data = _doctor(make_repo(tmp_path, moto_endpoint, role=role), capsys)
    assert code == 1
    assert [f["code"] for f in data["findings"]] == ["subject-form"]
    assert data["claims"]["sub"] == "repo:acme/services:environment:test"


def test_a_matching_policy_has_no_findings(
        tmp_path: Path, moto_endpoint: str, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    role = _create_role(moto_endpoint, "doctor-good", trust.trust_policy(
        "aws", "123456789012", "acme/services", "test", issuer_host=in_environment))
    root = make_repo(tmp_path, moto_endpoint, role=role)
    assert main(["doctor", "--env", "test", "--root", str(root)], environ=dict(os.environ)) == 0
    out = capsys.readouterr().out
    assert "decoded without verifying the signature" in out
    assert "no problem found" in out


def test_missing_role_is_an_error_with_a_hint(
        tmp_path: Path, moto_endpoint: str, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, moto_endpoint, role="arn:aws:iam::123456789012:role/nope")
    code, err = _doctor(root, capsys)
    assert code == 1
    assert "role arn:aws:iam::123456789012:role/nope does not exist" in err
    assert "release iam trust-policy" in err


def test_without_id_token_permission_the_fix_is_the_yaml(
        tmp_path: Path, moto_endpoint: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    policy_file = tmp_path / "trust.json"
    policy_file.write_text(json.dumps(trust.trust_policy("aws", "123456789012", "acme/x",
                                                            "test")))
    root = make_repo(tmp_path / "repo", moto_endpoint)
    code = main(["doctor", "--env", "test", "--root", str(root), "--repo", "acme/x",
                 "--policy-file", str(policy_file)], environ=dict(os.environ))
    out = capsys.readouterr().out
    assert code == 1
    assert "no-token" in out
    assert "id-token: write" in out


DEPLOY = "acme/services/.github/workflows/deploy.yml"


def _bound_role(endpoint: str, host: str, name: str) -> str:
    """A role bound as `release iam trust-policy --workflow deploy.yml --ref refs/heads/main`
    writes it."""
    binding = trust.bind("acme/services", "test", ".github/workflows/deploy.yml",
                            "refs/heads/main")
    return _create_role(endpoint, name, trust.trust_policy(
        "aws", "123456789012", "acme/services", "test", issuer_host=host, binding=binding))


def test_token_from_another_branch_is_explained(
        tmp_path: Path, moto_endpoint: str, issuer: RunningIssuer, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The local issuer does not customise subjects: the claims file writes the subject the
    # repository's customisation (repo, context, job_workflow_ref) gives a run of feature-x.
    ref = "refs/heads/feature-x"
    issuer.claims_file.write_text(json.dumps({
        "repository": "acme/services", "environment": "test", "ref": ref,
        "workflow_file": ".github/workflows/deploy.yml",
        "sub": f"repo:acme/services:environment:test:job_workflow_ref:{DEPLOY}@{ref}"}))
    role = _bound_role(moto_endpoint, in_environment, "doctor-bound-branch")
    code, data = _doctor(make_repo(tmp_path, moto_endpoint, role=role), capsys)
    assert code == 1
    assert data["claims"]["job_workflow_ref"] == f"{DEPLOY}@{ref}"
    assert [(f["code"], f["message"]) for f in data["findings"]] == [
        ("subject-ref", "the token's ref is refs/heads/feature-x; the role admits only "
                        "refs/heads/main")]


def test_token_without_the_customised_subject_gets_the_gh_api_call(
        tmp_path: Path, moto_endpoint: str, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    role = _bound_role(moto_endpoint, in_environment, "doctor-bound-default")
    root = make_repo(tmp_path, moto_endpoint, role=role)
    assert main(["doctor", "--env", "test", "--root", str(root)], environ=dict(os.environ)) == 1
    out = capsys.readouterr().out
    assert "  sub: repo:acme/services:environment:test\n" in out
    assert "subject-not-customized: the token's subject 'repo:acme/services:environment:test' " \
           "lacks job_workflow_ref" in out
    assert "gh api --method PUT repos/acme/services/actions/oidc/customization/sub " \
           "-F use_default=false -f 'include_claim_keys[]=repo' " \
           "-f 'include_claim_keys[]=context' -f 'include_claim_keys[]=job_workflow_ref'" in out


def test_token_of_the_bound_workflow_and_branch_is_admitted(
        tmp_path: Path, moto_endpoint: str, issuer: RunningIssuer, in_environment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    issuer.claims_file.write_text(json.dumps({
        "repository": "acme/services", "environment": "test",
        "workflow_file": ".github/workflows/deploy.yml",
        "sub": f"repo:acme/services:environment:test:job_workflow_ref:{DEPLOY}"
               "@refs/heads/main"}))
    role = _bound_role(moto_endpoint, in_environment, "doctor-bound-good")
    code, data = _doctor(make_repo(tmp_path, moto_endpoint, role=role), capsys)
    assert (code, data["findings"]) == (0, [])
