"""`release plan` keys HEAD's tree while git checks the work tree: a dirty tree still wins.

The plan computes every key on HEAD's tree while ``git status`` runs, and keys again only
when the work tree differs. These tests make it differ and check the keys are the work
tree's, exactly as a commit of it would give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release.cli import main
from release.local import sandbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    return sandbox.make(REPO, tmp_path / "repo", aws_endpoint="http://127.0.0.1:9",
                        registry_host="127.0.0.1:9", unique_builds=False)


def keys(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code = main(["plan", "--env", "local", "--root", str(root), "--all", "--output", "json"],
                environ={})
    out, err = capsys.readouterr()
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)["data"]
    return {e["service"]: e["build_key"] for e in data["services"]}


def test_an_uncommitted_change_is_keyed_from_the_work_tree(
        examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = keys(examples, capsys)
    app = examples / "services" / "coral" / "frontend" / "app" / "index.html"
    app.write_text(app.read_text() + "<!-- uncommitted -->\n")
    dirty = keys(examples, capsys)
    assert dirty["coral-frontend"] != clean["coral-frontend"]
    assert {k: v for k, v in dirty.items() if k != "coral-frontend"} == {
        k: v for k, v in clean.items() if k != "coral-frontend"}
    sandbox.git(examples, "commit", "-qam", "the same change, committed")
    assert keys(examples, capsys) == dirty


def test_a_service_that_exists_only_in_the_work_tree_is_planned(
        examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = examples / "services" / "fresh"
    new.mkdir()
    (new / "Dockerfile").write_text("FROM busybox\n")
    with (examples / "release.yaml").open("a") as handle:
        handle.write("  fresh:\n    context: services/fresh\n    lambda: {}\n")
    with (examples / "environments" / "local.yaml").open("a") as handle:
        handle.write("  fresh: {}\n")
    planned = keys(examples, capsys)
    assert "fresh" in planned
    sandbox.git(examples, "add", "-A")
    sandbox.git(examples, "commit", "-qm", "add fresh")
    assert keys(examples, capsys) == planned
