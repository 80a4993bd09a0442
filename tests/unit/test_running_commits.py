"""The source commit read back from a tag reaches git only when it is a commit id."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from release.commands import targets

GOOD = "0123456789abcdef0123456789abcdef01234567"


def seen(ecs_commit: Any, lambda_commit: Any) -> Any:
    def target(commit: Any) -> Any:
        return None if commit is None else SimpleNamespace(
            tags={targets.SOURCE_COMMIT_TAG: commit})
    return SimpleNamespace(ecs=target(ecs_commit), function=target(lambda_commit))


@pytest.mark.parametrize(("ecs", "fn", "expected"), [
    (GOOD, GOOD, {"ecs": GOOD, "lambda": GOOD}),
    (GOOD, None, {"ecs": GOOD}),
    ("--upload-pack=touch /tmp/x", GOOD, {"lambda": GOOD}),
    (GOOD + "\n::error::x", "HEAD", {}),
    ("", None, {}),
])
def test_only_commit_ids_are_returned(ecs: Any, fn: Any, expected: dict[str, str]) -> None:
    assert targets.running_commits(seen(ecs, fn)) == expected
