"""ECS progressive delivery on the local cloud: canary, linear, pauses, alarms and migrations.

The control plane runs ECS's CANARY and LINEAR strategies with real containers (the old
revision's tasks beside the new one's, the service's listener moving the given share of
connections); the release follows OUR service deployment stage by stage. One ECS minute
lasts two seconds here (RELEASE_LOCAL_ECS_MINUTE_SECONDS), so a bake of 1 minute is 2 s.
"""

from __future__ import annotations

import io
import json
import os
import threading
import urllib.request
import zipfile
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

SERVICE = "autovision"
ALARM = "autovision-5xx"
MINUTE_SECONDS = "2"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (15800-15802); stopped by PID at the end."""
    before = os.environ.get("RELEASE_LOCAL_ECS_MINUTE_SECONDS")
    os.environ["RELEASE_LOCAL_ECS_MINUTE_SECONDS"] = MINUTE_SECONDS  # read by the plane
    try:
        with private_cloud(tmp_path_factory, 15800) as state:
            yield state
    finally:
        if before is None:
            os.environ.pop("RELEASE_LOCAL_ECS_MINUTE_SECONDS", None)
        else:
            os.environ["RELEASE_LOCAL_ECS_MINUTE_SECONDS"] = before


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    return examples_repo(tmp_path, cloud_state)


@pytest.fixture(autouse=True)
def iam_coverage(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call the test's releases make is one `release iam trust-policy` allows."""
    with every_call_allowed(monkeypatch, repo):
        yield


def client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--env", "local", "--root", str(root), "--output", "json"],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, json.loads(out)["data"] if out else {}, err


def deploy(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code, data, err = run(root, capsys, "deploy", SERVICE)
    [found] = [r for r in data["results"] if (r["service"], r["target"]) == (SERVICE, "ecs")]
    return code, found, err


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1
        text: str = answer.read().decode()
    return text


def commit(root: Path, message: str) -> None:
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", message)


def configure(root: Path, deployment: dict[str, Any] | None) -> None:
    """Set services.autovision.ecs.deployment in environments/local.yaml."""
    local = root / "environments/local.yaml"
    config = yaml.safe_load(local.read_text())
    ecs = config["services"][SERVICE]["ecs"]
    ecs["deadline_seconds"] = 300
    if deployment is None:
        ecs.pop("deployment", None)
    else:
        ecs["deployment"] = deployment
    local.write_text(yaml.safe_dump(config, sort_keys=False))


def new_version(root: Path, name: str) -> None:
    page = root / "services/autovision/app/index.html"
    text = page.read_text()
    start, end = text.index("<h1>"), text.index("</h1>")
    page.write_text(text[:start] + f"<h1>{name}</h1>" + text[end:])
    commit(root, name)


def first_release(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The service running v1 (a rolling update), its URL."""
    configure(root, None)
    new_version(root, "autovision v1")
    code, found, _ = deploy(root, capsys)
    assert code == 0, found
    assert "<h1>autovision v1</h1>" in get(found["url"])
    return str(found["url"])


def running_revision(state: LocalState) -> str:
    [svc] = client(state, "ecs").describe_services(cluster="local",
                                                   services=[SERVICE])["services"]
    return str(svc["taskDefinition"]).rsplit(":", 1)[-1]


def test_a_canary_with_a_smoke_check_succeeds(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    configure(repo, {"strategy": "canary", "canary_percent": 50, "step_minutes": 1,
                     "bake_minutes": 1, "smoke": {"path": "/", "status": 200,
                                                  "body_contains": "autovision v2"}})
    new_version(repo, "autovision v2")
    code, found, err = deploy(repo, capsys)
    assert code == 0, found
    assert found["status"] == "deployed"
    progress = " ".join(found["progress"])
    assert "smoke passed" in progress
    for stage in ("SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT (50% of "
                  "production traffic on the new revision)", "BAKE_TIME", "CLEAN_UP"):
        assert stage in progress
        assert f"{SERVICE}: {stage}" in err  # the live log, as each stage is reached
    assert "<h1>autovision v2</h1>" in get(url)


def _alarm_during_bake(state: LocalState, stop: threading.Event) -> None:
    """Set the alarm to ALARM once the service's deployment is in BAKE_TIME."""
    ecs, cloudwatch = client(state, "ecs"), client(state, "cloudwatch")
    while not stop.wait(0.2):
        listed = ecs.list_service_deployments(cluster="local", service=SERVICE,
                                              status=["IN_PROGRESS"])["serviceDeployments"]
        if not listed:
            continue
        found = ecs.describe_service_deployments(serviceDeploymentArns=[
            listed[0]["serviceDeploymentArn"]])["serviceDeployments"][0]
        if found.get("lifecycleStage") == "BAKE_TIME":
            cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM",
                                       StateReason="the test: 5xx during the bake")
            return


def test_a_canary_is_rolled_back_when_an_alarm_fires_during_the_bake(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    before = running_revision(cloud_state)
    cloudwatch = client(cloud_state, "cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=ALARM, MetricName="HTTPCode_Target_5XX_Count",
                                Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="the test")
    configure(repo, {"strategy": "canary", "canary_percent": 10, "step_minutes": 1,
                     "bake_minutes": 30, "alarms": [ALARM]})
    new_version(repo, "autovision v2")
    stop = threading.Event()
    watcher = threading.Thread(target=_alarm_during_bake, args=(cloud_state, stop))
    watcher.start()
    try:
        code, found, _ = deploy(repo, capsys)
    finally:
        stop.set()
        watcher.join(10)
    assert code == 1
    assert found["status"] == "failed"
    assert "rolled back" in found["message"]
    assert ALARM in found["message"]
    assert "stage reached: BAKE_TIME" in found["message"]
    assert "failed gate: alarms" in found["progress"]
    assert "<h1>autovision v1</h1>" in get(url)
    assert running_revision(cloud_state) == before


def test_a_linear_deployment_shows_its_steps_in_the_log(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    configure(repo, {"strategy": "linear", "step_percent": 25, "step_minutes": 1})
    new_version(repo, "autovision v2")
    code, found, err = deploy(repo, capsys)
    assert code == 0, found
    steps = [line.split("(", 1)[1].split("%", 1)[0] for line in err.splitlines()
             if f"{SERVICE}: PRODUCTION_TRAFFIC_SHIFT (" in line]
    assert steps == ["25", "50", "75", "100"]
    assert "<h1>autovision v2</h1>" in get(url)


def test_a_paused_deployment_is_continued_and_another_stopped_with_rollback(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    configure(repo, {"strategy": "blue_green", "bake_minutes": 0,
                     "lifecycle_hooks": [{"pause": True, "stages": ["POST_TEST_TRAFFIC_SHIFT"]}]})
    new_version(repo, "autovision v2")
    code, found, _ = deploy(repo, capsys)
    assert (code, found["status"]) == (0, "paused")
    assert "paused at POST_TEST_TRAFFIC_SHIFT" in found["detail"]
    assert "<h1>autovision v1</h1>" in get(url)  # production traffic has not moved
    code, data, _ = run(repo, capsys, "continue", SERVICE)
    assert (code, data["results"][0]["status"]) == (0, "deployed")
    assert "<h1>autovision v2</h1>" in get(url)
    v2 = running_revision(cloud_state)

    new_version(repo, "autovision v3")
    code, found, _ = deploy(repo, capsys)
    assert (code, found["status"]) == (0, "paused")
    code, data, _ = run(repo, capsys, "stop", SERVICE, "--rollback")
    assert (code, data["results"][0]["status"]) == (0, "rolled-back"), data
    assert "<h1>autovision v2</h1>" in get(url)
    assert running_revision(cloud_state) == v2
    code, _, err = run(repo, capsys, "continue", SERVICE)
    assert code == 1  # nothing is paused any more
    assert "has no deployment in progress" in err


def test_a_failing_migration_moves_no_traffic_and_a_passing_one_lets_the_canary_go(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    before = running_revision(cloud_state)
    deployments = client(cloud_state, "ecs").list_service_deployments(
        cluster="local", service=SERVICE)["serviceDeployments"]
    configure(repo, {"strategy": "canary", "canary_percent": 50, "step_minutes": 1,
                     "before_traffic": {"run_task": {
                         "command": ["sh", "-c", "echo migration 42 failed: no table >&2; "
                                     "exit 3"], "timeout_seconds": 120}}})
    new_version(repo, "autovision v2")
    code, found, err = deploy(repo, capsys)
    assert code == 1
    assert "gate run_task failed before any traffic moved" in found["message"]
    assert "exit 3" in found["message"]
    assert "migration 42 failed: no table" in err  # the task's log
    assert running_revision(cloud_state) == before
    assert client(cloud_state, "ecs").list_service_deployments(
        cluster="local", service=SERVICE)["serviceDeployments"] == deployments
    assert "<h1>autovision v1</h1>" in get(url)

    configure(repo, {"strategy": "canary", "canary_percent": 50, "step_minutes": 1,
                     "before_traffic": {"run_task": {"command": ["sh", "-c",
                                                                 "echo migrated 42"]}}})
    commit(repo, "a migration that works")
    code, found, err = deploy(repo, capsys)
    assert code == 0, found
    assert any(p.startswith("run_task passed") for p in found["progress"])
    assert "migrated 42" in err
    assert "<h1>autovision v2</h1>" in get(url)


@pytest.mark.parametrize("strategy", ["rolling", "canary"])
def test_a_failing_smoke_check_puts_the_old_revision_back(
        strategy: str, repo: Path, cloud_state: LocalState,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    before = running_revision(cloud_state)
    configure(repo, {"strategy": strategy, "smoke": {
        "path": "/", "body_contains": "autovision v9", "timeout_seconds": 2}})
    new_version(repo, "autovision v2")
    code, found, _ = deploy(repo, capsys)
    assert code == 1
    assert found["progress"][-1] == "failed gate: smoke"
    assert any(p.startswith("smoke FAILED") for p in found["progress"])
    assert "<h1>autovision v1</h1>" in get(url)
    assert running_revision(cloud_state) == before
    if strategy == "rolling":  # rolled out, checked, then put back
        assert found["rolled_back_to"] is not None
    else:  # the canary never took production traffic
        assert "stage reached: POST_TEST_TRAFFIC_SHIFT" in found["message"]


def _hook_function(state: LocalState) -> tuple[str, str]:
    """A Lambda function in moto (a zip one: moto answers its invokes) and a role for ECS."""
    iam, lambda_ = client(state, "iam"), client(state, "lambda")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    try:
        role = iam.create_role(RoleName="ecs-hooks", AssumeRolePolicyDocument=json.dumps(
            trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="ecs-hooks")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n"
                                     "    return {'hookStatus': 'SUCCEEDED'}\n")
    try:
        function = lambda_.create_function(
            FunctionName="autovision-checks", Runtime="python3.12", Role=role,
            Handler="index.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]
    except lambda_.exceptions.ResourceConflictException:
        function = lambda_.get_function(
            FunctionName="autovision-checks")["Configuration"]["FunctionArn"]
    return str(function), str(role)


def _answer_next_invokes(state: LocalState, *answers: dict[str, Any]) -> None:
    """Queue moto's answers to the next Lambda invokes (its lambda-simple results)."""
    body = json.dumps({"results": [json.dumps(a) for a in answers], "region": state.region,
                       "account_id": state.account_id}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local cloud on 127.0.0.1
        f"{state.aws_endpoint_url}/moto-api/static/lambda-simple/response", data=body,
        method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201


def test_a_lambda_hook_decides_whether_the_deployment_goes_on(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    url = first_release(repo, capsys)
    function, role = _hook_function(cloud_state)
    configure(repo, {"strategy": "blue_green", "lifecycle_hooks": [
        {"lambda": function, "role_arn": role, "stages": ["POST_SCALE_UP"]}]})
    _answer_next_invokes(cloud_state, {"hookStatus": "IN_PROGRESS", "callBackDelay": 1},
                         {"hookStatus": "SUCCEEDED"})
    new_version(repo, "autovision v2")
    code, found, _ = deploy(repo, capsys)
    assert code == 0, found
    assert "<h1>autovision v2</h1>" in get(url)
    v2 = running_revision(cloud_state)

    # Nothing queued: moto's Lambda echoes the payload, which has no hookStatus; ECS rolls
    # a deployment back when its hook answers without one, and so does the local cloud.
    new_version(repo, "autovision v3")
    code, found, _ = deploy(repo, capsys)
    assert code == 1
    assert "no valid hookStatus" in found["message"]
    assert found["progress"][-1] == "failed gate: lifecycle hook"
    assert "<h1>autovision v2</h1>" in get(url)
    assert running_revision(cloud_state) == v2
