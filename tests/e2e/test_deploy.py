"""`release deploy` end to end: a real Docker engine and registry, moto in server mode.

The tests run a local cloud of their own (other ports, a state dir under pytest's tmp) so
they never disturb one a person started, and each test releases a fresh git copy of the
example services whose build keys are made unique with an extra build arg.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from iam_calls import every_call_allowed
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for these tests only (15000-15002); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15000) as state:
        yield state


_git = sandbox.git


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    """A git repository holding the examples, pointed at the test cloud, infra seeded."""
    return examples_repo(tmp_path, cloud_state)


@pytest.fixture
def iam_coverage(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call the test's releases make is one `release iam trust-policy` allows."""
    with every_call_allowed(monkeypatch, repo):
        yield


def deploy(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run `release deploy --env local` in-process; return (exit code, JSON data, stderr)."""
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json", *args],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)["data"] if out.strip() else None, err


def aws_client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def by_target(data: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["service"], r["target"]): r for r in data["results"]}


@pytest.mark.usefixtures("iam_coverage")
def test_first_release_builds_pushes_and_deploys_every_target(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = deploy(repo, capsys)
    assert code == 0
    results = by_target(data)
    assert set(results) == {
        ("autovision", "ecs"), ("coral-frontend", "ecs"), ("predictions-api", "ecs"),
        ("coral-restoration", "lambda"), ("coral-reframing", "lambda"),
        ("coral-segmentation", "lambda"), ("quetzal", "lambda"),
        ("quetzal", "step_functions"), ("quetzal", "s3_files"),
    }
    for result in results.values():
        assert result["status"] == "deployed", result
        assert result["built"] is True
        assert result["digest"].startswith("sha256:")
    ecs = aws_client(cloud_state, "ecs")
    host = cloud_state.registry_host
    for service in ("autovision", "coral-frontend", "predictions-api"):
        running = ecs.describe_services(cluster="local", services=[service])["services"][0]
        definition = ecs.describe_task_definition(
            taskDefinition=running["taskDefinition"], include=["TAGS"])
        image = definition["taskDefinition"]["containerDefinitions"][0]["image"]
        digest = results[(service, "ecs")]["digest"]
        assert image == f"{host}/{_repository(service)}@{digest}"
        tags = {t["key"]: t["value"] for t in definition["tags"]}
        assert tags["release:build-key"] == results[(service, "ecs")]["build_key"]
        assert tags["release:source-commit"] == _git(repo, "rev-parse", "HEAD")
        seeded = ecs.describe_task_definition(taskDefinition=f"local-{service}:1",
                                              include=["TAGS"]).get("tags", [])
        assert "release:build-key" not in {t["key"] for t in seeded}  # the old one untouched
    lam = aws_client(cloud_state, "lambda")
    for service in ("coral-restoration", "quetzal"):
        alias = lam.get_alias(FunctionName=f"local-{service}", Name="live")
        code_info = lam.get_function(FunctionName=f"local-{service}",
                                     Qualifier=alias["FunctionVersion"])["Code"]
        assert code_info["ImageUri"] == (f"{host}/{_repository(service)}@"
                                         f"{results[(service, 'lambda')]['digest']}")
    sfn = aws_client(cloud_state, "stepfunctions")
    machine = sfn.describe_state_machine(
        stateMachineArn="arn:aws:states:eu-west-1:123456789012:stateMachine:local-quetzal")
    assert "function:local-quetzal:live" in machine["definition"]
    s3 = aws_client(cloud_state, "s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="release-local-artifacts")["Contents"]]
    assert keys == ["models/local/config.yaml", "models/local/weights.csv"]


def _repository(service: str) -> str:
    return service.replace("coral-", "coral/", 1) if service.startswith("coral-") else service


def test_second_release_changes_nothing(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(repo, capsys)[0] == 0
    ecs = aws_client(cloud_state, "ecs")
    revisions = ecs.list_task_definitions(familyPrefix="local-autovision")["taskDefinitionArns"]
    versions = aws_client(cloud_state, "lambda").list_versions_by_function(
        FunctionName="local-quetzal")["Versions"]

    code, data, err = deploy(repo, capsys)
    assert code == 0
    for result in data["results"]:
        assert (result["built"], result["registered"], result["updated"]) == (False, False, False)
        assert result["status"] == "unchanged"
    assert "reuse  none    up to date" in err  # the printed plan says why
    assert ecs.list_task_definitions(
        familyPrefix="local-autovision")["taskDefinitionArns"] == revisions
    assert aws_client(cloud_state, "lambda").list_versions_by_function(
        FunctionName="local-quetzal")["Versions"] == versions


def test_a_commit_touching_one_worker_releases_only_that_worker(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(repo, capsys)[0] == 0
    handler = repo / "services/coral/workers/reframing/handler.sh"
    handler.write_text(handler.read_text() + "\n# tuned\n")
    _git(repo, "commit", "-qam", "y")

    code, data, _ = deploy(repo, capsys)
    assert code == 0
    changed = {(r["service"], r["target"]) for r in data["results"] if r["status"] != "unchanged"}
    assert changed == {("coral-reframing", "lambda")}
    built = {r["service"] for r in data["results"] if r["built"]}
    assert built == {"coral-reframing"}


def test_predictions_api_builds_with_the_repository_root_as_context(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = deploy(repo, capsys, "predictions-api")
    assert code == 0
    [result] = data["results"]
    assert result["built"] is True
    import docker

    client = docker.DockerClient(base_url=cloud_state.docker_host)
    image = client.images.get(f"{cloud_state.registry_host}/predictions-api:{result['build_key']}")
    # The image holds files from two places under the root context: libs/ and the service.
    container = client.containers.create(image.id, command=["ls", "/srv/www/schemas", "/srv"])
    try:
        files = container.get_archive("/srv/www/schemas")[0]
        assert b"prediction.schema.json" in b"".join(files)
    finally:
        container.remove()
        client.close()


def test_a_failing_dockerfile_fails_that_service_only(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = repo / "services/autovision/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN echo about to fail && exit 3\n")
    _git(repo, "commit", "-qam", "z")

    code, data, _ = deploy(repo, capsys)
    assert code == 1
    results = by_target(data)
    failed = results[("autovision", "ecs")]
    assert failed["status"] == "failed"
    assert "build" in failed["message"]
    assert "about to fail" in failed["message"]  # the failing step's log lines
    assert "Dockerfile" in (failed["hint"] or "")
    others = [r for k, r in results.items() if k[0] != "autovision"]
    assert others
    assert all(r["status"] == "deployed" for r in others)
    running = aws_client(cloud_state, "ecs").describe_services(
        cluster="local", services=["autovision"])["services"][0]
    assert running["taskDefinition"].endswith(":1")  # still the seeded revision


def test_a_missing_lambda_function_is_named_and_the_rest_is_released(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    aws_client(cloud_state, "lambda").delete_function(FunctionName="local-coral-segmentation")
    code, data, _ = deploy(repo, capsys)
    assert code == 1
    results = by_target(data)
    failed = [r for r in data["results"] if r["status"] == "failed"]
    assert [r["service"] for r in failed] == ["coral-segmentation"]
    assert "local-coral-segmentation not found" in failed[0]["message"]
    assert "create it first" in failed[0]["hint"]
    assert results[("autovision", "ecs")]["status"] == "deployed"


def test_the_registry_refusing_the_login_is_a_clear_error(
        repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from release.adapters.aws import ecr as ecr_adapter
    from release.adapters.registry import Login

    monkeypatch.setattr(ecr_adapter, "login",
                        lambda _client, host: Login(host, "AWS", "wrong-password"))
    code, data, _ = deploy(repo, capsys, "autovision")
    assert code == 1
    [result] = data["results"]
    assert "refused the login" in result["message"]


def test_aws_endpoint_down_is_a_clear_error(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = repo / "environments" / "local.yaml"
    data = yaml.safe_load(local.read_text())
    data["aws"]["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    local.write_text(yaml.safe_dump(data, sort_keys=False))
    code = main(["deploy", "--env", "local", "--root", str(repo)], environ=local_environ())
    _, err = capsys.readouterr()
    assert code == 1
    assert "cannot reach http://127.0.0.1:9" in err
    assert "release local up" in err
    assert "Traceback" not in err


def test_docker_engine_unreachable_fails_the_builds_with_the_fix(
        repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    code, data, _ = deploy(repo, capsys, "autovision", "coral-restoration")
    assert code == 1
    assert {r["service"] for r in data["results"]} == {"autovision", "coral-restoration"}
    for result in data["results"]:
        assert result["status"] == "failed"
        assert "Docker engine not reachable" in result["message"]
        assert "release local up" in result["hint"]


def test_a_missing_ecs_service_is_named_with_the_fix(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    ecs = aws_client(cloud_state, "ecs")
    ecs.update_service(cluster="local", service="coral-frontend", desiredCount=0)
    ecs.delete_service(cluster="local", service="coral-frontend")
    code, data, _ = deploy(repo, capsys, "coral-frontend", "autovision")
    assert code == 1
    results = by_target(data)
    [failed] = [r for r in data["results"] if r["status"] == "failed"]
    assert failed["service"] == "coral-frontend"
    assert "ECS service coral-frontend not found in cluster local" in failed["message"]
    assert "ecs.service" in failed["hint"]
    assert results[("autovision", "ecs")]["status"] == "deployed"


def test_a_failed_service_is_planned_again_after_an_unrelated_push(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(repo, capsys)[0] == 0
    app = repo / "services/autovision/app/index.html"
    app.write_text(app.read_text() + "\n<!-- v2 -->\n")
    dockerfile = repo / "services/autovision/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN exit 7\n")
    _git(repo, "commit", "-qam", "autovision v2, broken build")
    assert deploy(repo, capsys)[0] == 1  # autovision fails; the rest is unchanged
    failed_at = _git(repo, "rev-parse", "HEAD")

    (repo / "NOTES.md").write_text("an unrelated change\n")
    _git(repo, "add", "NOTES.md")
    _git(repo, "commit", "-qm", "unrelated")

    def plan(*args: str) -> dict[str, str]:
        code = main(["plan", "--env", "local", "--root", str(repo), "--output", "json", *args],
                    environ=local_environ())
        out, _ = capsys.readouterr()
        assert code == 0
        return {e["service"]: e["reason"] for e in json.loads(out)["data"]["services"]}

    assert plan() == {"autovision": "deployed differs"}
    # What a path filter over the last push sees: nothing. Reconcile does not have that wall.
    assert plan("--since", failed_at) == {}


def test_deploy_authenticates_through_github_oidc_when_the_runner_offers_it(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", cloud_state.oidc_request_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "not-the-runner-token")
    code = main(["deploy", "--env", "local", "--root", str(repo), "autovision"],
                environ=local_environ())
    _, err = capsys.readouterr()
    assert code == 1  # the issuer refused the token: the OIDC path is the one in use
    assert "401" in err or "refused" in err
    assert "Traceback" not in err

    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", cloud_state.oidc_request_token)
    code, data, _ = deploy(repo, capsys, "autovision")
    assert code == 0
    assert [r["status"] for r in data["results"]] == ["deployed"]


def test_a_full_release_under_github_actions_shows_each_secret_only_on_its_mask_line(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outputs, summary = tmp_path / "output", tmp_path / "summary"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", cloud_state.oidc_request_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", cloud_state.oidc_request_token)
    code = main(["deploy", "--env", "local", "--root", str(repo)],
                environ={**os.environ, "GITHUB_OUTPUT": str(outputs),
                         "GITHUB_STEP_SUMMARY": str(summary)})
    out, err = capsys.readouterr()
    assert code == 0
    lines = (out + err).splitlines()
    masked = {line.removeprefix("::add-mask::") for line in lines
              if line.startswith("::add-mask::")}
    # The registry password, the OIDC token, and the role's key id, secret and session token.
    assert cloud_state.registry_password in masked
    assert len(masked) >= 5
    assert any(m.startswith("eyJ") for m in masked)  # the OIDC token (a JWT) itself
    for secret in masked:
        first_use = next(i for i, line in enumerate(lines) if secret in line)
        assert lines[first_use] == f"::add-mask::{secret}"  # masked before anything shows it
        assert all(line == f"::add-mask::{secret}" for line in lines if secret in line)
    assert cloud_state.oidc_request_token not in out + err
    written = outputs.read_text() + summary.read_text()
    assert not any(secret in written for secret in masked)
    results = outputs.read_text().split("results=", 1)[1].splitlines()[0]
    assert {r["service"] for r in json.loads(results) if r["digest"]} >= {"autovision",
                                                                           "quetzal"}
    assert "autovision" in summary.read_text()


def test_plan_after_a_release_is_empty_and_sees_a_config_only_change(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(repo, capsys)[0] == 0

    def plan() -> dict[str, str]:
        code = main(["plan", "--env", "local", "--root", str(repo), "--output", "json"],
                    environ=local_environ())
        out, _ = capsys.readouterr()
        assert code == 0
        return {e["service"]: e["reason"] for e in json.loads(out)["data"]["services"]}

    assert plan() == {}
    local = repo / "environments" / "local.yaml"
    data = yaml.safe_load(local.read_text())
    data["services"]["autovision"]["ecs"]["environment"]["DETECTION_THRESHOLD"] = "0.7"
    local.write_text(yaml.safe_dump(data, sort_keys=False))
    _git(repo, "commit", "-qam", "raise the threshold")
    assert plan() == {"autovision": "config differs"}
    # The image is already in the registry: the plan gives it no build job.
    code = main(["plan", "--env", "local", "--root", str(repo), "--output", "json",
                 "--find-images"], environ=local_environ())
    out, _ = capsys.readouterr()
    assert code == 0
    found = json.loads(out)["data"]
    assert [(e["service"], e["image"]) for e in found["services"]] == [("autovision", "found")]
    assert found["services"][0]["digest"].startswith("sha256:")
    assert found["build"] == []
    code, data, _ = deploy(repo, capsys)
    assert code == 0
    changed = [(r["service"], r["built"], r["registered"]) for r in data["results"]
               if r["status"] == "deployed"]
    assert changed == [("autovision", False, True)]  # same image, new task definition
    assert plan() == {}


def test_diff_shows_a_changed_value_and_exits_0_when_nothing_differs(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(repo, capsys)[0] == 0

    def diff(*args: str) -> tuple[int, Any]:
        code = main(["diff", "--env", "local", "--root", str(repo), "--output", "json",
                     "--exit-code", *args], environ=local_environ())
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, json.loads(out)["data"]

    code, data = diff()
    assert code == 0  # right after a release, nothing differs
    assert data["differs"] is False
    assert {t["action"] for t in data["targets"]} == {"none"}

    local = repo / "environments" / "local.yaml"
    config = yaml.safe_load(local.read_text())
    config["services"]["autovision"]["ecs"]["environment"]["DETECTION_THRESHOLD"] = "0.7"
    config["services"]["autovision"]["ecs"]["memory"] = "1024"
    local.write_text(yaml.safe_dump(config, sort_keys=False))
    _git(repo, "commit", "-qam", "raise the threshold and the memory")
    code, data = diff("autovision")
    assert code == 1
    [target] = data["targets"]
    assert (target["service"], target["target"], target["action"]) == (
        "autovision", "ecs", "register")
    changes = {d["path"]: (d["before"], d["after"]) for d in target["differences"]}
    assert changes == {
        "containerDefinitions[autovision].environment.DETECTION_THRESHOLD": ("0.6", "0.7"),
        "memory": ("512", "1024")}
    # In words, and the printed plan of a dry run gives the same values in brief
    assert main(["diff", "--env", "local", "--root", str(repo), "autovision"],
                environ=local_environ()) == 0
    out, _ = capsys.readouterr()
    assert "  memory: 512 -> 1024" in out
    code, _, err = deploy(repo, capsys, "--dry-run", "autovision")
    assert code == 0
    assert "memory 512 -> 1024" in err
