"""Acceptance: the example configuration validates, and renders autovision as deployed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from release.cli import main

REPO = Path(__file__).resolve().parents[2]
IMAGE = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/autovision@sha256:" + "a" * 64


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), environ={})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def render(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "render", "--root", str(root), "--env", "dev", "autovision",
                         *extra)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--root", str(REPO))
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[:3] == ["ENVIRONMENT", "SERVICE", "TARGET"]
    rows = {tuple(line.split()[:3]) for line in out.splitlines()[2:] if line.strip()}
    for row in [("dev", "autovision", "ecs"), ("prod", "autovision", "ecs"),
                ("dev", "coral-restoration", "lambda"), ("dev", "quetzal", "step_functions"),
                ("quetzal-model-b", "quetzal", "s3_files"),
                ("dev", "batch-detector", "azure_container_app")]:
        assert row in rows
    assert "configuration is valid" in out
    assert "ERROR" not in err


def test_examples_validate_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--root", str(REPO), "--output", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["kind"] == "validate"
    assert {"environment": "dev", "service": "autovision", "target": "ecs",
            "detail": "dev/autovision (dev-autovision)"} in doc["data"]


def test_render_dev_autovision(capsys: pytest.CaptureFixture[str]) -> None:
    task = render(capsys, REPO, "--image", IMAGE)

    assert task["family"] == "dev-autovision"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert task["executionRoleArn"] == "arn:aws:iam::111111111111:role/dev-ecs-execution"
    assert task["taskRoleArn"] == "arn:aws:iam::111111111111:role/dev-autovision-task"
    for read_only in ("taskDefinitionArn", "revision", "status", "registeredAt",
                      "requiresAttributes", "compatibilities"):
        assert read_only not in task
    [container] = task["containerDefinitions"]
    assert container["name"] == "autovision"
    assert container["image"] == IMAGE
    assert [p["containerPort"] for p in container["portMappings"]] == [80]
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == "/ecs/dev-autovision"
    assert logs["options"]["awslogs-region"] == "eu-west-1"
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment == {
        "MODEL_PATH": "s3://acme-dev-autovision-models/detector/v3/model.onnx",
        "DETECTION_THRESHOLD": "0.5",
        "NMS_THRESHOLD": "0.45",
    }
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets == {
        "AWS_ACCESS_KEY_ID":
            "arn:aws:ssm:eu-west-1:111111111111:parameter/dev/autovision/aws-access-key-id",
        "AWS_SECRET_ACCESS_KEY":
            "arn:aws:ssm:eu-west-1:111111111111:parameter/dev/autovision/aws-secret-access-key",
    }
    assert "AWS_ACCESS_KEY_ID" not in json.dumps(container["environment"])
    assert "${" not in json.dumps(task)


def test_render_unknown_service_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "--root", str(REPO), "--env", "dev", "autovison",
                       "--image", IMAGE)
    assert code == 2
    assert "hint:" in err
    assert "Traceback" not in err


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", "-C", str(root), *args],
        capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_render_without_image_tags_with_the_build_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(REPO / "release.yaml", root / "release.yaml")
    for folder in ("environments", "services", "libs"):
        shutil.copytree(REPO / folder, root / folder)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "examples")

    first = render(capsys, root)["containerDefinitions"][0]["image"]
    match = re.fullmatch(r"111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com/autovision:"
                         r"([0-9a-f]{20})", first)
    assert match, first
    assert render(capsys, root)["containerDefinitions"][0]["image"] == first

    # A change outside autovision's inputs keeps the key; one inside changes it.
    (root / "services" / "quetzal" / "handler.sh").write_text("echo other\n")
    assert render(capsys, root)["containerDefinitions"][0]["image"] == first
    (root / "services" / "autovision" / "app" / "index.html").write_text("<p>new</p>\n")
    changed = render(capsys, root)["containerDefinitions"][0]["image"]
    assert changed != first
    assert re.search(r":[0-9a-f]{20}$", changed)
