"""The local cloud runs what it deploys: ECS tasks are containers, rollouts replace them
as ECS does, a failing image or health check is rolled back by the circuit breaker, and
each service's URL answers from its healthy tasks, before, during and after a release.

Real, not scripted: what the scripted fault tests still cover (throttling, 5xx bursts,
expired tokens) the local cloud cannot show.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

SERVICE = "autovision"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (15600-15602); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15600) as state:
        yield state


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    return examples_repo(tmp_path, cloud_state)


def deploy(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json", *args],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, json.loads(out)["data"]


def ecs_result(data: Any) -> dict[str, Any]:
    [found] = [r for r in data["results"] if (r["service"], r["target"]) == (SERVICE, "ecs")]
    return found


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1
        text: str = answer.read().decode()
    return text


def commit(root: Path, message: str) -> None:
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", message)


def first_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, data = deploy(repo, capsys, SERVICE)
    assert code == 0, data
    url = ecs_result(data)["url"]
    assert url.startswith("http://127.0.0.1:")
    assert "<h1>autovision</h1>" in get(url)
    return str(url)


def test_a_good_release_answers_with_the_new_version_on_the_same_url(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    page = repo / "services/autovision/app/index.html"
    page.write_text(page.read_text().replace("<h1>autovision</h1>", "<h1>autovision v2</h1>"))
    commit(repo, "v2")
    code, data = deploy(repo, capsys, SERVICE)
    assert code == 0
    assert ecs_result(data)["url"] == url  # the port is kept per service
    assert "<h1>autovision v2</h1>" in get(url)


def test_an_image_that_exits_at_start_is_rolled_back_and_the_url_keeps_answering(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    dockerfile = repo / "services/autovision/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["httpd", "-f", "-p", "80", "-h", "/srv/www"]',
        'CMD ["sh", "-c", "echo the model file is missing >&2; exit 3"]'))
    commit(repo, "broken start")
    code, data = deploy(repo, capsys, SERVICE)
    assert code == 1
    failed = ecs_result(data)
    assert failed["status"] == "failed"
    assert "exit 3" in (failed["hint"] or "") + failed["message"]
    assert "Essential container in task exited" in (failed["hint"] or "") + failed["message"]
    assert "the model file is missing" in (failed["hint"] or "")  # its last log lines
    assert "<h1>autovision</h1>" in get(url)  # the previous version still serves


def test_a_failing_health_check_is_rolled_back(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    (repo / "services/autovision/app/health").unlink()  # wget of /health now fails
    commit(repo, "no health")
    code, data = deploy(repo, capsys, SERVICE)
    assert code == 1
    failed = ecs_result(data)
    assert "health" in ((failed["hint"] or "") + failed["message"]).lower()
    assert "<h1>autovision</h1>" in get(url)


def test_a_secret_whose_parameter_does_not_exist_fails_the_task(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first_release(repo, capsys)
    local = repo / "environments/local.yaml"
    config = yaml.safe_load(local.read_text())
    config["services"][SERVICE]["ecs"]["secrets"]["MODEL_TOKEN"] = (
        "arn:aws:ssm:eu-west-1:123456789012:parameter/local/autovision/not-there")
    local.write_text(yaml.safe_dump(config, sort_keys=False))
    commit(repo, "a secret nobody created")
    code, data = deploy(repo, capsys, SERVICE)
    assert code == 1
    failed = ecs_result(data)
    assert "ResourceInitializationError" in (failed["hint"] or "") + failed["message"]


def test_a_digest_not_in_the_registry_cannot_be_pulled(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    first_release(repo, capsys)
    ecs = boto3.client("ecs", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    service = ecs.describe_services(cluster="local", services=[SERVICE])["services"][0]
    body = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
        "taskDefinition"]
    container = body["containerDefinitions"][0]
    container["image"] = container["image"].rsplit("@", 1)[0] + "@sha256:" + "0" * 64
    keep = ("family", "containerDefinitions", "networkMode", "requiresCompatibilities",
            "cpu", "memory")
    arn = ecs.register_task_definition(**{k: body[k] for k in keep if k in body})[
        "taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="local", service=SERVICE, taskDefinition=arn)
    deadline = time.monotonic() + 60
    reasons: list[str] = []
    while time.monotonic() < deadline and not any("CannotPullContainerError" in r
                                                  for r in reasons):
        time.sleep(1)
        stopped = ecs.list_tasks(cluster="local", serviceName=SERVICE,
                                 desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster="local", tasks=stopped)["tasks"] if stopped else []
        reasons = [t.get("stoppedReason", "") for t in tasks]
    assert any("CannotPullContainerError" in r for r in reasons), reasons


def test_a_redeploy_replaces_the_tasks_and_the_url_answers_throughout(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    ecs = boto3.client("ecs", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    before = set(ecs.list_tasks(cluster="local", serviceName=SERVICE)["taskArns"])
    answers: list[int] = []
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
                    answers.append(answer.status)
            except OSError:
                answers.append(0)
            time.sleep(0.1)

    asker = threading.Thread(target=keep_asking, daemon=True)
    asker.start()
    try:
        code = main(["redeploy", "--env", "local", "--root", str(repo), SERVICE],
                    environ=local_environ())
    finally:
        done.set()
        asker.join(10)
    capsys.readouterr()
    assert code == 0
    after = set(ecs.list_tasks(cluster="local", serviceName=SERVICE)["taskArns"])
    assert after
    assert not after & before  # new tasks
    assert answers
    assert set(answers) == {200}  # no request failed while the tasks were replaced
