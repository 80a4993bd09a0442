"""`release auth aws` against the local cloud: its OIDC issuer's tokens, moto's STS.

Secrets hygiene: under GITHUB_ACTIONS=true every secret (the OIDC token, the access key,
secret key and session token) may appear in the captured output only on its own
`::add-mask::` line, printed before anything else, and never in $GITHUB_OUTPUT.
The local cloud here is this module's own (ports 17000-17002), stopped by PID at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from private_cloud import examples_repo, local_environ, private_cloud

from release.adapters import oidc
from release.cli import main
from release.commands import auth, doctor
from release.errors import ConfigError, ReleaseError
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/release-local"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for these tests only (17000-17002); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 17000) as state:
        yield state


def make_repo(root: Path, state: LocalState, account_id: str = "123456789012") -> Path:
    """One Lambda service; environment `local` points at the test cloud."""
    (root / "services" / "fn").mkdir(parents=True)
    (root / "services" / "fn" / "Dockerfile").write_text("FROM scratch\n")
    (root / "release.yaml").write_text(
        "version: 1\nservices:\n  fn:\n    context: services/fn\n    lambda: {}\n")
    (root / "environments").mkdir()
    (root / "environments" / "local.yaml").write_text(
        f"name: local\naws:\n  region: eu-west-1\n  account_id: \"{account_id}\"\n"
        f"  role_arn: {ROLE}\n  endpoint_url: {state.aws_endpoint_url}\n"
        "registry:\n  type: ecr\nservices:\n  fn:\n    lambda: {}\n")
    return root


@pytest.fixture
def runner_env(cloud_state: LocalState, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What a GitHub runner exports to a step with `id-token: write`."""
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ENV": str(tmp_path / "github_env"),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "ACTIONS_ID_TOKEN_REQUEST_URL": cloud_state.oidc_request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": cloud_state.oidc_request_token,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def read_github_env(path: Path) -> dict[str, str]:
    """Parse `NAME<<DELIM` blocks as the runner does."""
    lines = path.read_text().splitlines()
    out, i = {}, 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        out[name] = lines[i + 1]
        assert lines[i + 2] == delimiter
        i += 3
    return out


def test_secrets_are_masked_first_exported_to_github_env_and_never_output(
        cloud_state: LocalState, runner_env: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path / "repo", cloud_state)
    code = main(["auth", "aws", "--env", "local", "--root", str(root)], environ=runner_env)
    out, err = capsys.readouterr()
    assert code == 0, err
    exported = read_github_env(Path(runner_env["GITHUB_ENV"]))
    assert exported["AWS_REGION"] == "eu-west-1"
    out_lines = out.splitlines()
    masks = [line.removeprefix("::add-mask::") for line in out_lines
             if line.startswith("::add-mask::")]
    token = masks[0]
    assert token.count(".") == 2  # the OIDC JWT is masked as soon as it exists
    secrets = [token, exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"],
               exported["AWS_SESSION_TOKEN"]]
    assert out_lines[:len(masks)] == [f"::add-mask::{m}" for m in masks]  # masks come first
    for secret in secrets:
        assert secret in masks
        for line in (out + err).splitlines():
            if secret in line:
                assert line == f"::add-mask::{secret}"
    output_file = Path(runner_env["GITHUB_OUTPUT"])
    written = output_file.read_text() if output_file.exists() else ""
    assert not any(secret in written for secret in secrets)
    assert "exported to $GITHUB_ENV" in out
    sts = boto3.client("sts", endpoint_url=cloud_state.aws_endpoint_url, region_name="eu-west-1",
                       aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=exported["AWS_SESSION_TOKEN"])
    identity = sts.get_caller_identity()
    sts.close()
    assert identity["Account"] == "123456789012"
    assert identity["Arn"].endswith("assumed-role/release-local/release-4242-2")


def test_locally_credentials_are_printed_as_json(
        cloud_state: LocalState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in cloud_state.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    root = make_repo(tmp_path / "repo", cloud_state)
    code = main(["auth", "aws", "--env", "local", "--root", str(root), "--output", "json",
                 "--duration", "900"], environ=local_environ())
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)["data"]
    assert data["assumed_role_arn"].endswith("assumed-role/release-local/release-local")
    assert data["variables"]["AWS_ACCESS_KEY_ID"]
    assert "::add-mask::" not in out


def _run(root: Path, environ: dict[str, str]) -> auth.AwsResult:
    quick = oidc.Retry(attempts=3, sleep=lambda _s: None)
    deps = auth.Deps(tokens=lambda env: oidc.TokenSource.from_environ(env, quick))
    return auth.run_aws(auth.Options(root, "local", environ=environ), deps)


def test_without_id_token_permission_the_error_shows_the_yaml(
        cloud_state: LocalState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    root = make_repo(tmp_path / "repo", cloud_state)
    code = main(["auth", "aws", "--env", "local", "--root", str(root)], environ=local_environ())
    err = capsys.readouterr().err
    assert code == 1
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in err
    assert "      permissions:\n        id-token: write\n        contents: read" in err


def test_issuer_down(cloud_state: LocalState, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", cloud_state)
    environ = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:17003/token?api-version=2.0",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}
    with pytest.raises(ReleaseError, match=r"cannot get an OIDC token from 127\.0\.0\.1:17003"):
        _run(root, environ)


def test_wrong_request_token_is_a_401(cloud_state: LocalState, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", cloud_state)
    environ = {**cloud_state.environment(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}
    with pytest.raises(ReleaseError, match="refused the request"):
        _run(root, environ)


def test_expired_token_is_refused(cloud_state: LocalState, tmp_path: Path) -> None:
    claims = Path(cloud_state.state_dir) / "oidc-claims.json"
    before = claims.read_text() if claims.exists() else None
    claims.write_text(json.dumps({**json.loads(before or "{}"), "exp": 1000}))
    try:
        with pytest.raises(ReleaseError, match="the OIDC token expired"):
            _run(make_repo(tmp_path / "repo", cloud_state), cloud_state.environment())
    finally:
        if before is None:
            claims.unlink()
        else:
            claims.write_text(before)


# Credentials STS hands out for another account than account_id are refused too
# (tests/adapters/test_oidc_sts.py): moto issues them in the role's own account, so the config
# check below is what an end-to-end run can show.
def test_a_role_outside_account_id_is_refused_before_any_call(cloud_state: LocalState,
                                                              tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", cloud_state, account_id="999999999999")
    with pytest.raises(ConfigError) as caught:
        _run(root, cloud_state.environment())
    assert [p.field for p in caught.value.problems] == ["aws.role_arn"]
    assert "not in this environment's account 999999999999" in caught.value.problems[0].message


def test_the_seeded_local_role_admits_the_local_issuers_tokens(
        cloud_state: LocalState, tmp_path: Path) -> None:
    """`release local up` seeds the role as `release iam trust-policy` would write it, so the
    doctor finds nothing to fix against the cloud's own tokens."""
    root = examples_repo(tmp_path, cloud_state)
    environ = {**cloud_state.environment(), "ACTIONS_ID_TOKEN_REQUEST_URL":
               cloud_state.oidc_request_url,
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": cloud_state.oidc_request_token}
    result = doctor.run(doctor.Options(root, "local", environ=environ))
    assert result.findings == (), result.to_text()
    assert result.exit_code == 0
