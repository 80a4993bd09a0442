"""One local cloud per machine, used from any repository.

A second git repository (a copy of two example services, pointed at the session's cloud)
runs `release local up` and `release local seed` against the running cloud's state dir: the
cloud is reused, the repository's own services are created once, nothing lands in it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from release.cli import main
from release.local import cloud, sandbox
from release.local.state import STATE_DIR_ENV, LocalState, default_state_dir, read_state

REPO = Path(__file__).resolve().parents[2]
OptionsFactory = Callable[..., cloud.Options]


def _other_repo(target: Path, state: LocalState, *, endpoint: str | None = None) -> Path:
    """A copy of autovision (ECS) and quetzal (Lambda) with names of its own."""
    root = sandbox.make(REPO, target, aws_endpoint=endpoint or state.aws_endpoint_url,
                        registry_host=state.registry_host, unique_builds=False)
    local = root / "environments" / "local.yaml"
    data = yaml.safe_load(local.read_text())
    tag = f"other-{secrets.token_hex(3)}"
    data["ecs"]["cluster"] = tag
    data["services"] = {"autovision": data["services"]["autovision"],
                        "quetzal": {"lambda": {**data["services"]["quetzal"]["lambda"],
                                               "function": f"{tag}-quetzal"}}}
    local.write_text(yaml.safe_dump(data, sort_keys=False))
    sandbox.git(root, "commit", "-qam", "two services of its own")
    return root


def _client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def _release(cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *words: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(list(words), environ=environ if environ is not None else {})
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _snapshot(state: LocalState, cluster: str, function: str) -> dict[str, Any]:
    """What a second seed must leave exactly as it was."""
    ecs, lam, ssm = (_client(state, n) for n in ("ecs", "lambda", "ssm"))
    (service,) = ecs.describe_services(cluster=cluster, services=["autovision"])["services"]
    (found,) = ecs.describe_clusters(clusters=[cluster])["clusters"]
    params = ssm.get_parameters_by_path(Path="/local/autovision", WithDecryption=True)
    return {
        "service": (service["taskDefinition"], [d["id"] for d in service["deployments"]]),
        "cluster": (found["clusterArn"], found["activeServicesCount"]),
        "families": ecs.list_task_definitions(
            familyPrefix="local-autovision")["taskDefinitionArns"],
        "versions": [v["Version"] for v in lam.list_versions_by_function(
            FunctionName=function)["Versions"]],
        "alias": lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"],
        "parameters": sorted((p["Name"], p["Version"]) for p in params["Parameters"]),
    }


@pytest.fixture
def state_dir(local_cloud: LocalState) -> Iterator[Path]:
    """The session cloud's state dir, and its recorded components before and after."""
    before = read_state(Path(local_cloud.state_dir))
    yield Path(local_cloud.state_dir)
    after = read_state(Path(local_cloud.state_dir))
    assert before is not None
    assert after is not None
    assert after.components == before.components  # nothing restarted, nothing added


@pytest.mark.e2e
def test_a_second_repository_reuses_the_running_cloud_and_seeds_its_own_services(
        local_cloud: LocalState, state_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    other = _other_repo(tmp_path / "other", local_cloud)
    data = yaml.safe_load((other / "environments" / "local.yaml").read_text())
    cluster, function = data["ecs"]["cluster"], data["services"]["quetzal"]["lambda"]["function"]

    # No --state-dir: the variable names the machine's cloud, as in CI.
    code, out, err = _release(other, monkeypatch, capsys, "local", "up",
                              environ={STATE_DIR_ENV: str(state_dir)})
    assert code == 0, err
    assert "using the local cloud already running" in err
    assert "starting" not in err  # no second moto, registry, issuer or engine
    made = re.search(r"seeded (\d+) resources \((\d+) made, 0 already there\) from (\S+)", err)
    assert made is not None, err
    assert made[1] == made[2] != "0"
    assert made[3] == str(other / "environments" / "local.yaml")
    assert local_cloud.aws_endpoint_url in out  # the status table's exports
    assert not (other / ".release").exists()
    assert sandbox.git(other, "status", "--porcelain") == ""

    (service,) = _client(local_cloud, "ecs").describe_services(
        cluster=cluster, services=["autovision"])["services"]
    assert service["status"] == "ACTIVE"
    assert _client(local_cloud, "lambda").get_function(FunctionName=function)
    first = _snapshot(local_cloud, cluster, function)

    code, out, err = _release(other, monkeypatch, capsys, "local", "seed",
                              "--state-dir", str(state_dir), "--output", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["kind"] == "release.local.seed"
    assert all(line.endswith("(exists)") for line in document["resources"]), document
    code, _, err = _release(other, monkeypatch, capsys, "local", "up",
                            "--state-dir", str(state_dir))
    assert code == 0, err
    assert f"(0 made, {made[1]} already there)" in err
    assert _snapshot(local_cloud, cluster, function) == first

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, _ = _release(elsewhere, monkeypatch, capsys, "local", "status",
                            "--state-dir", str(state_dir), "--output", "json")
    assert code == 0
    assert json.loads(out)["running"] is True
    assert list(elsewhere.iterdir()) == []


@pytest.mark.e2e
def test_a_local_yaml_pointing_elsewhere_is_refused_with_the_fix(
        local_cloud: LocalState, state_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    other = _other_repo(tmp_path / "other", local_cloud, endpoint="http://127.0.0.1:5999")
    cluster = yaml.safe_load((other / "environments" / "local.yaml").read_text())["ecs"]["cluster"]

    code, _, err = _release(other, monkeypatch, capsys, "local", "seed",
                            "--state-dir", str(state_dir))
    assert code == 1
    assert "environments/local.yaml points elsewhere; created no infrastructure" in err
    assert "aws.endpoint_url http://127.0.0.1:5999" in err
    assert f"aws.endpoint_url: {local_cloud.aws_endpoint_url}" in err  # the hint
    code, _, err = _release(other, monkeypatch, capsys, "local", "up",
                            "--state-dir", str(state_dir))
    assert code == 0  # the cloud is up; only the seeding was refused
    assert "points elsewhere; created no infrastructure" in err
    assert "hint: " in err
    assert _client(local_cloud, "ecs").describe_clusters(clusters=[cluster])["clusters"] == []
    assert not (other / ".release").exists()


def test_seed_without_a_running_cloud_says_how_to_start_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _release(REPO, monkeypatch, capsys, "local", "seed",
                            "--state-dir", str(tmp_path / "none"))
    assert code == 1
    assert "the local cloud is not running" in err
    assert "release local up" in err
    code, out, _ = _release(tmp_path, monkeypatch, capsys, "local", "status",
                            "--state-dir", str(tmp_path / "none"))
    assert code == 1
    assert "not running" in out
    assert "release local up" in out


@pytest.mark.parametrize(("env", "expected"), [
    ({STATE_DIR_ENV: "/srv/cloud", "XDG_STATE_HOME": "/x", "HOME": "/h"}, "/srv/cloud"),
    ({"XDG_STATE_HOME": "/x", "HOME": "/h"}, "/x/release/local"),
    ({"XDG_STATE_HOME": "relative", "HOME": "/h"}, "/h/.local/state/release/local"),
    ({"HOME": "/h"}, "/h/.local/state/release/local"),
])
def test_the_state_lives_outside_any_repository(env: dict[str, str], expected: str) -> None:
    assert default_state_dir(env) == Path(expected)


def test_up_help_says_what_is_seeded_from_where(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "up", "--help"], environ={}) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "environments/local.yaml" in text
    assert "~/.local/state/release/local" in text
    assert "release local seed" in text
