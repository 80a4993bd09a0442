"""`release diff`'s result: exit codes as `git diff --exit-code`, text and JSON."""

from __future__ import annotations

import json

import pytest

from release.commands.diff import Result, TargetDiff
from release.planning.diff import Difference

SAME = TargetDiff("web", "ecs", "none", "up to date")
CHANGED = TargetDiff("web", "ecs", "register", "differs: memory 512 -> 1024",
                     (Difference("memory", "512", "1024"),))
UNREADABLE = TargetDiff("api", "ecs", "error", "", message="ECS service api not found",
                        hint="create it")


@pytest.mark.parametrize(("targets", "exit_on_difference", "code"), [
    ((SAME,), True, 0),
    ((SAME, CHANGED), True, 1),
    ((SAME, CHANGED), False, 0),
    ((UNREADABLE,), False, 1),
    ((), True, 0),
])
def test_exit_code(targets: tuple[TargetDiff, ...], exit_on_difference: bool,
                   code: int) -> None:
    assert Result("dev", "c" * 40, targets, exit_on_difference).exit_code == code


def test_text_gives_each_changed_value_and_each_error_with_its_hint() -> None:
    text = Result("dev", "c" * 40, (SAME, CHANGED, UNREADABLE)).to_text()
    assert text.splitlines() == [
        "web ecs: up to date",
        "web ecs: register (differs: memory 512 -> 1024)",
        "  memory: 512 -> 1024",
        "api: cannot compare: ECS service api not found",
        "  hint: create it",
        "",
        "1 of 3 targets would change in dev",
    ]


def test_json_and_outputs_say_what_differs() -> None:
    result = Result("dev", "c" * 40, (SAME, CHANGED))
    data = json.loads(result.to_json())["data"]
    assert data["differs"] is True
    assert data["targets"][1]["differences"] == [
        {"path": "memory", "before": "512", "after": "1024"}]
    assert result.github_outputs() == {"differs": "true", "services": '["web"]'}
