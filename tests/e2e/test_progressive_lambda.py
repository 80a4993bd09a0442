"""Lambda canary releases on the local cloud, for real: quetzal's alias gets weights, the
smoke invoke runs the new version's image, alarms are read from moto's CloudWatch (a test
sets one to ALARM with ``set_alarm_state`` during the interval), and a failed gate puts the
alias back on the previous version alone. Intervals of seconds, not minutes."""

from __future__ import annotations

import json
import threading
import time
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

FUNCTION, ALIAS, SERVICE = "local-quetzal", "live", "quetzal"
SMOKE = {"payload": {"input": "smoke"}, "expect_contains": "model_prefix"}


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (15703-15705); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15703) as state:
        yield state


def client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def repo(tmp_path: Path, cloud_state: LocalState) -> Path:
    return examples_repo(tmp_path, cloud_state)


@pytest.fixture(autouse=True)
def iam_coverage(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call the test's releases make is one `release iam trust-policy` allows."""
    with every_call_allowed(monkeypatch, repo):
        yield


def configure(root: Path, deployment: dict[str, Any], *, handler_fails: bool = False) -> None:
    """Set quetzal's lambda.deployment in environments/local.yaml (and break its handler)."""
    path = root / "environments/local.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"][SERVICE]["lambda"]["deployment"] = deployment
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    handler = root / "services/quetzal/handler.sh"
    if handler_fails:
        handler.write_text(handler.read_text() + "echo the model is missing >&2\nexit 1\n")
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "canary")


def deploy(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json", SERVICE],
                environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    [found] = [r for r in json.loads(out)["data"]["results"] if r["target"] == "lambda"]
    return code, found, err


def alias(state: LocalState) -> tuple[str, dict[str, float]]:
    found = client(state, "lambda").get_alias(FunctionName=FUNCTION, Name=ALIAS)
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return str(found["FunctionVersion"]), weights


def test_a_canary_that_passes_its_gates_ends_on_the_new_version_alone(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    before, _ = alias(cloud_state)
    configure(repo, {"strategy": "canary", "percent": 20, "interval_seconds": 2,
                     "smoke": SMOKE})
    code, found, err = deploy(repo, capsys)
    assert code == 0, err
    version, weights = alias(cloud_state)
    assert version != before
    assert weights == {}
    assert found["traffic"]["reached"] == [20, 100]
    assert [(g["name"], g["passed"]) for g in found["traffic"]["gates"]] == [("smoke", True)]
    assert f"alias {ALIAS}: 20% to version {version}" in err
    assert "canary 20% -> 100%, 2s per share; gates: smoke" in err  # the plan says it first


def test_a_canary_whose_smoke_invoke_fails_goes_back_to_the_old_version_alone(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    before, _ = alias(cloud_state)
    configure(repo, {"strategy": "canary", "percent": 10, "interval_seconds": 2,
                     "smoke": SMOKE}, handler_fails=True)
    code, found, _ = deploy(repo, capsys)
    assert code == 1
    assert alias(cloud_state) == (before, {})
    assert found["status"] == "failed"
    assert "gate smoke failed at 10%" in found["message"]
    assert found["traffic"]["failed"]["name"] == "smoke"
    assert found["rolled_back_to"] == f"version {before}"
    versions = client(cloud_state, "lambda").list_versions_by_function(FunctionName=FUNCTION)
    newest = max(int(v["Version"]) for v in versions["Versions"] if v["Version"].isdigit())
    code = main(["invoke", "--env", "local", "--root", str(repo), SERVICE,
                 "--qualifier", str(newest)], environ=local_environ())
    out, _ = capsys.readouterr()
    assert code == 1  # the version the canary refused still fails, for a look
    assert "HandlerError" in out


def test_an_alarm_in_alarm_during_the_interval_rolls_back(
        repo: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    cloudwatch = client(cloud_state, "cloudwatch")
    name = "quetzal-errors"
    cloudwatch.put_metric_alarm(
        AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    before, _ = alias(cloud_state)
    configure(repo, {"strategy": "linear", "percent": 50, "interval_seconds": 20,
                     "alarms": [name]})

    def fire_when_weighted() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not alias(cloud_state)[1]:
            time.sleep(0.2)
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM",
                                   StateReason="errors in the canary")

    firing = threading.Thread(target=fire_when_weighted, daemon=True)
    firing.start()
    code, found, _ = deploy(repo, capsys)
    firing.join(5)
    assert code == 1
    assert alias(cloud_state) == (before, {})
    assert found["traffic"]["failed"]["name"] == "alarms"
    assert f"{name} in ALARM" in found["message"]
    assert found["traffic"]["reached"] == [50]
