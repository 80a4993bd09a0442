"""Readable image tags end to end: the build key and ``v3-${run_number}`` name one digest.

A real Docker engine and the local cloud's registry (its own ports, 16100-16102). Under
GitHub Actions (GITHUB_RUN_NUMBER set) the image is pushed under its build key and its
readable tag, both naming the digest the build reports; the deploy pins that digest. Outside
Actions the run-number tag is skipped with a note, and the build key alone is pushed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from private_cloud import examples_repo, private_cloud

from release.adapters import registry
from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

TAGGED = "coral-restoration"  # a Lambda image: deployed by digest to the local cloud
UNTAGGED_RUN = "coral-segmentation"


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    with private_cloud(tmp_path_factory, 16100) as state:
        yield state


def _run(capsys: pytest.CaptureFixture[str], argv: list[str],
         environ: dict[str, str]) -> tuple[int, Any, str]:
    code = main([*argv, "--output", "json"], environ=environ)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    body = out[out.index("{"):] if "{" in out else ""
    return code, json.loads(body)["data"] if body else None, err


def _with_tags(repo: Path) -> None:
    release = repo / "release.yaml"
    spec = yaml.safe_load(release.read_text())
    for name in (TAGGED, UNTAGGED_RUN):
        spec["services"][name]["tags"] = ["v3-${run_number}", "${env}-${short_sha}"]
    release.write_text(yaml.safe_dump(spec, sort_keys=False))
    sandbox.git(repo, "commit", "-qam", "tags")


def _login(state: LocalState) -> registry.Login:
    ecr = boto3.client("ecr", endpoint_url=state.aws_endpoint_url, region_name=state.region,
                       aws_access_key_id="t", aws_secret_access_key="t")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return registry.Login(state.registry_host, "AWS",
                          base64.b64decode(token).decode().partition(":")[2])


def test_the_build_key_and_the_run_number_tag_name_one_digest(
        tmp_path: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    repo = examples_repo(tmp_path, cloud_state)
    _with_tags(repo)
    head = sandbox.git(repo, "rev-parse", "HEAD").strip()
    environ = {"GITHUB_RUN_NUMBER": "41", "GITHUB_RUN_ATTEMPT": "1"}
    code, built, err = _run(capsys, ["build", "--env", "local", "--root", str(repo), TAGGED],
                            environ)
    assert code == 0, err
    (image,) = built["images"]
    assert image["status"] == "built"
    login = _login(cloud_state)
    repository, digest = image["repository"], image["digest"]
    assert registry.manifest_digest(login, repository, image["build_key"]) == digest
    assert registry.manifest_digest(login, repository, "v3-41") == digest
    assert registry.manifest_digest(login, repository, f"local-{head[:7]}") == digest

    # Outside GitHub Actions: no run number, so that tag is skipped with a note.
    code, other, err = _run(capsys, ["build", "--env", "local", "--root", str(repo),
                                     UNTAGGED_RUN], {})
    assert code == 0, err
    assert "tag v3-${run_number} skipped: ${run_number} is GITHUB_RUN_NUMBER" in err
    (second,) = other["images"]
    assert registry.manifest_digest(login, second["repository"], "v3-41") is None
    assert registry.manifest_digest(login, second["repository"],
                                    f"local-{head[:7]}") == second["digest"]

    # The deploy pins the digest, whatever the tags.
    code, deployed, err = _run(capsys, ["deploy", "--env", "local", "--root", str(repo),
                                        TAGGED], {})
    assert code == 0, err
    (result,) = deployed["results"]
    assert (result["built"], result["digest"]) == (False, digest)
    lam = boto3.client("lambda", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="t",
                       aws_secret_access_key="t")
    uri = lam.get_function(FunctionName=f"local-{TAGGED}")["Code"]["ImageUri"]
    assert uri == f"{cloud_state.registry_host}/{repository}@{digest}"


def test_a_run_number_that_is_not_a_number_fails_before_any_build(
        tmp_path: Path, cloud_state: LocalState, capsys: pytest.CaptureFixture[str]) -> None:
    repo = examples_repo(tmp_path, cloud_state)
    _with_tags(repo)
    code, _, err = _run(capsys, ["build", "--env", "local", "--root", str(repo), TAGGED],
                        {"GITHUB_RUN_NUMBER": "41;rm"})
    assert code == 2, err
    assert "GITHUB_RUN_NUMBER is not a number" in err
    assert "pushed" not in err
