"""Rollback, redeploy and the downgrade refusal end to end on a local cloud of their own.

Ports 16000-16002 (test_deploy.py uses 15000-15002) so both modules run in one session.
moto completes every rollout at once, so failures and rollbacks forced by a failing
rollout are covered with scripted clients in tests/adapters; here the commands run for
real against moto, a registry and a Docker engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for these tests only (16000-16002); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 16000) as state:
        yield state


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    """A git repository holding the examples, pointed at the test cloud, infra seeded."""
    return examples_repo(tmp_path, cloud_state)


def release(root: Path, capsys: pytest.CaptureFixture[str], *args: str
            ) -> tuple[int, Any, str]:
    """Run a `release` verb in-process with --output json; (exit code, data, stderr)."""
    code = main([*args, "--env", "local", "--root", str(root), "--output", "json"],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"] if out.strip() else None, err


def client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def running(state: LocalState, service: str) -> dict[str, Any]:
    found = client(state, "ecs").describe_services(cluster="local", services=[service])
    return dict(found["services"][0])


def test_rollback_puts_the_previous_revision_back_and_forward_again(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = release(repo, capsys, "deploy", "autovision", "coral-restoration")
    assert code == 0
    assert running(cloud_state, "autovision")["taskDefinition"].endswith("local-autovision:2")
    # a second release: revisions 2 and 3 both run for real (1 is the seeded stand-in)
    dockerfile = repo / "services/autovision/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# v3\n")
    sandbox.git(repo, "commit", "-qam", "v3")
    assert release(repo, capsys, "deploy", "autovision")[0] == 0
    assert running(cloud_state, "autovision")["taskDefinition"].endswith("local-autovision:3")

    code, data, _ = release(repo, capsys, "rollback", "autovision")
    assert code == 0
    [change] = data["results"]
    assert (change["before"], change["after"], change["status"]) == (
        "local-autovision:3", "local-autovision:2", "rolled-back")
    assert running(cloud_state, "autovision")["taskDefinition"].endswith("local-autovision:2")

    code, data, _ = release(repo, capsys, "rollback", "autovision", "--to", "3")
    assert code == 0
    assert running(cloud_state, "autovision")["taskDefinition"].endswith("local-autovision:3")

    lam = client(cloud_state, "lambda")
    assert lam.get_alias(FunctionName="local-coral-restoration", Name="live")[
        "FunctionVersion"] == "2"
    code, data, _ = release(repo, capsys, "rollback", "coral-restoration")
    assert code == 0
    assert data["results"][0]["after"] == "version 1"
    assert lam.get_alias(FunctionName="local-coral-restoration", Name="live")[
        "FunctionVersion"] == "1"


def test_rollback_errors_name_the_fix(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = release(repo, capsys, "rollback", "autovison")
    assert code == 2
    assert "service 'autovison' is not deployed to local" in err
    assert "did you mean 'autovision'?" in err

    code, _, err = release(repo, capsys, "rollback", "autovision")  # only the seeded revision
    assert code == 1
    assert "no previous revision of local-autovision before local-autovision:1" in err
    assert "active revisions (newest first): local-autovision:1" in err

    code, _, err = release(repo, capsys, "rollback", "autovision", "--to", "7")
    assert code == 1
    assert "no revision 7 of local-autovision" in err


def test_redeploy_starts_a_new_deployment_of_the_same_revision(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    # what a release put there runs for real (the seeded revision is only a stand-in)
    assert release(repo, capsys, "deploy", "autovision", "predictions-api")[0] == 0
    before = {s: running(cloud_state, s) for s in ("autovision", "predictions-api")}
    code, data, _ = release(repo, capsys, "redeploy", "autovision", "predictions-api")
    assert code == 0
    assert [r["status"] for r in data["results"]] == ["deployed", "deployed"]
    for service, was in before.items():
        now = running(cloud_state, service)
        assert now["taskDefinition"] == was["taskDefinition"]
        assert now["deployments"][0]["id"] != was["deployments"][0]["id"]

    code, _, err = release(repo, capsys, "redeploy", "quetzal")
    assert code == 2
    assert "quetzal: no ECS service in local" in err


def test_an_older_commit_is_refused_unless_allowed(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    older = sandbox.git(repo, "rev-parse", "HEAD")
    page = repo / "services/autovision/Dockerfile"
    page.write_text(page.read_text() + "\n# newer\n")
    sandbox.git(repo, "commit", "-qam", "newer")
    assert release(repo, capsys, "deploy", "autovision")[0] == 0
    newer_revision = running(cloud_state, "autovision")["taskDefinition"]

    sandbox.git(repo, "reset", "-q", "--hard", older)  # the sandbox copy, not the checkout
    code, data, _ = release(repo, capsys, "deploy", "autovision")
    assert code == 1
    [result] = data["results"]
    assert f"refusing to deploy commit {older[:12]}: it is older than the running" in \
        result["message"]
    assert "--allow-downgrade" in result["hint"]
    assert running(cloud_state, "autovision")["taskDefinition"] == newer_revision

    code, data, _ = release(repo, capsys, "deploy", "autovision", "--allow-downgrade")
    assert code == 0
    assert running(cloud_state, "autovision")["taskDefinition"] != newer_revision
