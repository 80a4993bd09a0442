"""`release build` end to end: a real Docker engine and registry, ECR's login from moto.

A build job pushes each image once, built at once with the engine's embedded BuildKit; a
second build finds every build key in the registry and builds nothing; the deploy that
follows reuses the very same digests. The module runs a local cloud of its own
(20500-20502), stopped by PID at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_cloud import examples_repo, private_cloud

from release.adapters import registry
from release.cli import main
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

CHOSEN = ("autovision", "coral-restoration")


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    with private_cloud(tmp_path_factory, 20500) as state:
        yield state


def _run(capsys: pytest.CaptureFixture[str], argv: list[str],
         environ: dict[str, str] | None = None) -> tuple[int, Any, str]:
    code = main([*argv, "--output", "json"], environ=environ or {})
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    body = out[out.index("{"):] if "{" in out else ""  # after any ::add-mask:: line
    return code, json.loads(body)["data"] if body else None, err


def test_build_pushes_once_then_reuses_and_deploy_builds_nothing(
        tmp_path: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = examples_repo(tmp_path, cloud_state)
    outputs, summary = tmp_path / "github-output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, first, err = _run(capsys, ["build", "--env", "local", "--root", str(repo),
                                     "--builds", "2", *CHOSEN],
                            {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs),
                             "GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 0
    images = {i["service"]: i for i in first["images"]}
    assert set(images) == set(CHOSEN)
    assert {i["status"] for i in images.values()} == {"built"}
    # BuildKit through the docker CLI, found once; each image's output in a group of its own.
    assert err.count("builder: embedded BuildKit of the engine") == 1
    lines = err.splitlines()
    for name in CHOSEN:
        start = lines.index(f"::group::build {name}")
        end = lines.index("::endgroup::", start)
        assert any(line.startswith("#") for line in lines[start:end])  # plain progress
        assert not any(line.startswith("::") for line in lines[start + 1:end])
        build = images[name]["build"]
        assert (build["builder"], build["platforms"]) == ("embedded", ["linux/amd64"])
        assert build["digest"] == images[name]["digest"]
        assert build["steps"] >= 1
        assert build["size"] > 0

    # Really in the registry, under the build key, with the digest we report.
    password = _ecr_password(cloud_state)
    login = registry.Login(cloud_state.registry_host, "AWS", password)
    for image in images.values():
        repository = image["repository"]
        assert registry.manifest_digest(login, repository, image["build_key"]) == image["digest"]
    written = outputs.read_text()
    digests = json.loads(written.split("digests=", 1)[1].splitlines()[0])
    assert digests == {n: f"{i['repository']}@{i['digest']}" for n, i in images.items()}
    assert password not in written + summary.read_text()
    assert "| autovision |" in summary.read_text()
    assert "| embedded | linux/amd64 |" in summary.read_text()

    code, second, _ = _run(capsys, ["build", "--env", "local", "--root", str(repo), *CHOSEN])
    assert code == 0
    assert {i["service"]: (i["status"], i["digest"]) for i in second["images"]} == {
        n: ("reused", i["digest"]) for n, i in images.items()}

    monkeypatch.delenv("GITHUB_ACTIONS")
    code, deployed, err = _run(capsys, ["deploy", "--env", "local", "--root", str(repo),
                                        *CHOSEN])
    assert code == 0, err
    assert "building" not in err
    for result in deployed["results"]:
        assert result["built"] is False
        assert result["digest"] == images[result["service"]]["digest"]
        assert result["status"] == "deployed"
    ecs = boto3.client("ecs", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    running = ecs.describe_services(cluster="local", services=["autovision"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=running["taskDefinition"])
    image_ref = definition["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image_ref == f"{cloud_state.registry_host}/autovision@{images['autovision']['digest']}"


def _ecr_password(state: LocalState) -> str:
    import base64

    ecr = boto3.client("ecr", endpoint_url=state.aws_endpoint_url, region_name=state.region,
                       aws_access_key_id="t", aws_secret_access_key="t")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]
