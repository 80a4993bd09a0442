"""`release plan` on a real git copy of the examples, against a recorded deployed state.

Covers the walls path filters hit: a zero 'before' SHA (new branch), a 'before' commit
that is gone (force push), a shallow clone, a shared library change, dispatch selection.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from release.cli import main
from release.local import sandbox

REPO = Path(__file__).resolve().parents[2]
WORKERS = {"coral-restoration", "coral-reframing", "coral-segmentation"}


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan") / "repo"
    return sandbox.make(REPO, root, aws_endpoint="http://127.0.0.1:9",
                        registry_host="127.0.0.1:9", unique_builds=False)


def plan(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["plan", "--env", "local", "--root", str(root), "--output", "json", *args],
                environ={})
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, (json.loads(out)["data"] if out.strip() else None), err


def recorded(examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
             **overrides: Any) -> Path:
    """A deployed state where every service runs HEAD's build, then ``overrides``."""
    _, data, _ = plan(examples, capsys, "--all")
    services: dict[str, Any] = {e["service"]: {"build_key": e["build_key"], "commit": "abc"}
                                for e in data["services"]}
    services.update(overrides)
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps({"services": services}))
    return path


def commit(root: Path, path: str) -> str:
    target = root / path
    target.write_text(target.read_text() + "\n# changed\n")
    sandbox.git(root, "commit", "-qam", f"touch {path}")
    return sandbox.git(root, "rev-parse", "HEAD")


def test_reconcile_with_nothing_changed_plans_nothing(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, data, _ = plan(examples, capsys, "--deployed",
                         str(recorded(examples, capsys, tmp_path)))
    assert code == 0
    assert data["services"] == []
    assert data["mode"] == "reconcile"


def test_a_service_that_failed_last_time_is_planned_after_an_unrelated_push(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = recorded(examples, capsys, tmp_path,
                     autovision={"build_key": "an-older-build", "commit": "0ld"})
    commit(examples, "services/coral/frontend/app/index.html")
    _, data, _ = plan(examples, capsys, "--deployed", str(state))
    planned = {e["service"]: e["reason"] for e in data["services"]}
    assert planned == {"autovision": "deployed differs", "coral-frontend": "deployed differs"}


def test_since_a_commit_plans_the_services_whose_paths_changed(
        examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sandbox.git(examples, "rev-parse", "HEAD")
    commit(examples, "libs/coral-common/README.md")
    _, data, _ = plan(examples, capsys, "--since", before)
    assert data["mode"].startswith("since")
    assert {e["service"] for e in data["services"]} == WORKERS
    assert all(e["reason"] == "changed paths" for e in data["services"])


@pytest.mark.parametrize(("before", "said"), [
    ("0" * 40, "zero SHA"),
    ("1234567890abcdef1234567890abcdef12345678", "not in this clone"),  # force-pushed away
])
def test_since_falls_back_to_reconcile_and_says_so(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        before: str, said: str) -> None:
    state = recorded(examples, capsys, tmp_path, quetzal=None)
    code, data, _ = plan(examples, capsys, "--since", before, "--deployed", str(state))
    assert code == 0
    assert data["mode"] == "reconcile"
    assert said in data["note"]
    assert [(e["service"], e["reason"]) for e in data["services"]] == [
        ("quetzal", "not deployed")]


def test_a_shallow_clone_plans_by_reconcile(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    commit(examples, "services/quetzal/handler.sh")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{examples}", str(shallow)],
                   check=True, timeout=60)
    state = recorded(shallow, capsys, tmp_path)
    _, data, _ = plan(shallow, capsys, "--since", "HEAD~1", "--deployed", str(state))
    assert "not in this clone" in data["note"]
    assert data["services"] == []


def test_dispatch_selection_and_redeploy(examples: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, data, _ = plan(examples, capsys, "--services", "quetzal,autovision")
    assert [(e["service"], e["reason"]) for e in data["services"]] == [
        ("autovision", "forced"), ("quetzal", "forced")]
    _, data, _ = plan(examples, capsys, "--services", "predictions-api", "--redeploy")
    assert [(e["service"], e["reason"]) for e in data["services"]] == [
        ("predictions-api", "redeploy")]


@pytest.mark.parametrize(("names", "said"), [
    ("coral-reframng", "did you mean 'coral-reframing'?"),
    ("x; curl evil", "is not a service name"),
])
def test_bad_service_names_are_refused_before_anything_runs(
        examples: Path, capsys: pytest.CaptureFixture[str], names: str, said: str) -> None:
    code = main(["plan", "--env", "local", "--root", str(examples), "--services", names],
                environ={})
    _, err = capsys.readouterr()
    assert code == 2
    assert said in err
    assert "Traceback" not in err


def test_removed_services_are_reported_not_planned(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = recorded(examples, capsys, tmp_path, **{"old-service": {"build_key": "k"}})
    _, data, _ = plan(examples, capsys, "--deployed", str(state))
    assert data["removed"] == ["old-service"]
    assert data["services"] == []


def test_matrix_output_is_a_list_of_github_matrices(
        examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--env", "local", "--root", str(examples), "--all", "--output",
                 "matrix"], environ={})
    out, _ = capsys.readouterr()
    assert code == 0
    [chunk] = json.loads(out)
    rows = {row["service"]: row for row in chunk["include"]}
    assert rows["predictions-api"]["context"] == "."
    assert rows["coral-reframing"]["repository"] == "coral/reframing"


def test_predictions_api_is_keyed_by_its_dockerfile_ignore_file(
        examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # BuildKit reads services/predictions-api/Dockerfile.dockerignore, not the root
    # .dockerignore, for this context (the repository root): the key follows the same file.
    own = examples / "services/predictions-api/Dockerfile.dockerignore"
    own.write_text(own.read_text() + "!services/predictions-api/NOTES.txt\n")
    (examples / "services/predictions-api/NOTES.txt").write_text("sent to the build\n")
    sandbox.git(examples, "add", "-A")
    sandbox.git(examples, "commit", "-qm", "send the notes")
    state = recorded(examples, capsys, tmp_path)
    commit(examples, ".dockerignore")  # never read for this build: no rebuild
    _, data, _ = plan(examples, capsys, "--deployed", str(state))
    assert data["services"] == []
    commit(examples, "services/predictions-api/NOTES.txt")  # the root file drops it; sent
    _, data, _ = plan(examples, capsys, "--deployed", str(state))
    assert [(e["service"], e["reason"]) for e in data["services"]] == [
        ("predictions-api", "deployed differs")]
