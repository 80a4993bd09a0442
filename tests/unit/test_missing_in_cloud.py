"""A service whose ECS service or Lambda function does not exist is `missing in the cloud`:
planned with that reason, `missing` in status, and `plan --strict` exits 1."""

from __future__ import annotations

import json
from pathlib import Path

from release.commands import plan, status
from release.planning.reconcile import Deployed, Desired, Entry, reconcile


def test_reconcile_says_missing_in_the_cloud_with_what_is_missing() -> None:
    entries = reconcile({"api": Desired("k1"), "web": Desired("k2")},
                        {"api": Deployed(None, missing="Lambda function local-api"),
                         "web": None})
    assert [(e.service, e.reason, e.detail) for e in entries] == [
        ("api", "missing in the cloud", "Lambda function local-api"),
        ("web", "not deployed", "")]


def _result(reason: str, strict: bool) -> plan.Result:
    return plan.Result("local", "c" * 40, "reconcile", (Entry("api", reason, "k1"),), (),  # type: ignore[arg-type]
                       strict=strict)


def test_plan_strict_exits_1_only_when_something_is_missing() -> None:
    assert _result("missing in the cloud", strict=True).exit_code == 1
    assert _result("missing in the cloud", strict=False).exit_code == 0
    assert _result("not deployed", strict=True).exit_code == 0


def test_plan_text_says_how_to_create_it_locally() -> None:
    text = _result("missing in the cloud", strict=False).to_text()
    assert "missing in the cloud" in text
    assert "release local seed" in text
    assert "release local seed" not in _result("not deployed", strict=False).to_text()


def test_status_shows_missing_and_plan_reads_it_back(tmp_path: Path) -> None:
    gone = Deployed(None, missing="ECS service web in cluster local")
    result = status.Result("c" * 40, 0.0, {"local": {"web": status.Cell(gone, False)}}, {})
    [row] = [line for line in result.to_text().splitlines() if line.startswith("web")]
    assert row.split() == ["web", "missing"]
    saved = tmp_path / "deployed.json"
    saved.write_text(result.to_json())
    assert json.loads(saved.read_text())["data"]["environments"]["local"]["services"]["web"][
        "missing"] == "ECS service web in cluster local"
    assert plan.read_recorded(saved, "local") == {"web": gone}
