"""After a rollback, `status` and `plan` say what runs: the Lambda alias's version is read
with the keys its release recorded on it; a function the environment names that does not
exist is `missing in the cloud` (and fails `plan --strict`). A local cloud of its own
(15300-15302)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from iam_calls import every_call_allowed
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for these tests only; stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15300) as state:
        yield state


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    return examples_repo(tmp_path, cloud_state)


@pytest.fixture(autouse=True)
def iam_coverage(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call of the releases, rollbacks, status and plan runs is one
    `release iam trust-policy` allows."""
    with every_call_allowed(monkeypatch, repo):
        yield


def release(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """`release ARGS --env local --output json` in-process: (exit code, its data)."""
    code = main([*args, "--env", "local", "--root", str(root), "--output", "json"],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"] if out.strip() else None


def test_status_and_plan_tell_the_truth_after_a_lambda_rollback(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    assert release(repo, capsys, "deploy")[0] == 0
    first = sandbox.git(repo, "rev-parse", "HEAD")
    handler = repo / "services/coral/workers/reframing/handler.sh"
    handler.write_text(handler.read_text() + "\n# tuned\n")
    sandbox.git(repo, "commit", "-qam", "tune the reframing worker")
    second = sandbox.git(repo, "rev-parse", "HEAD")
    assert release(repo, capsys, "deploy")[0] == 0
    code, status = release(repo, capsys, "status")
    assert code == 0
    assert status["environments"]["local"]["services"]["coral-reframing"]["commit"] == second

    code, done = release(repo, capsys, "rollback", "coral-reframing")
    assert code == 0, done

    code, status = release(repo, capsys, "status")
    assert code == 0
    row = status["environments"]["local"]["services"]["coral-reframing"]
    assert row["commit"] == first
    assert row["current"] is False
    code, planned = release(repo, capsys, "plan")
    assert code == 0
    assert [(e["service"], e["reason"]) for e in planned["services"]] == [
        ("coral-reframing", "deployed differs")]
    # What reads the function's tags agrees with what the alias runs.
    lam = boto3.client("lambda", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    arn = lam.get_function(FunctionName="local-coral-reframing")["Configuration"]["FunctionArn"]
    tags = lam.list_tags(Resource=arn)["Tags"]
    alias = lam.get_alias(FunctionName="local-coral-reframing", Name="live")
    assert tags["release:source-commit"] == first
    assert tags["release:lambda-version"] == alias["FunctionVersion"]
    # A deploy puts the newer worker back, and then nothing is left to release.
    assert release(repo, capsys, "deploy")[0] == 0
    assert release(repo, capsys, "plan")[1]["services"] == []


def test_a_function_missing_in_the_cloud_is_said_so_and_fails_a_strict_plan(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    lam = boto3.client("lambda", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    lam.delete_function(FunctionName="local-coral-segmentation")
    code, planned = release(repo, capsys, "plan")
    assert code == 0
    reasons = {e["service"]: (e["reason"], e["detail"]) for e in planned["services"]}
    assert reasons["coral-segmentation"] == ("missing in the cloud",
                                             "Lambda function local-coral-segmentation")
    assert reasons["coral-restoration"][0] == "not deployed"
    assert release(repo, capsys, "plan", "--strict")[0] == 1
    code = main(["plan", "--env", "local", "--root", str(repo), "--strict"],
                environ=local_environ())
    out, _ = capsys.readouterr()
    assert code == 1
    assert "release local seed" in out
