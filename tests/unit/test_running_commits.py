"""The source commit read back from a tag reaches git only when it is a commit id."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from release.engine.targets import ecs, lambda_
from release.planning.recorded import SOURCE_COMMIT_TAG

GOOD = "0123456789abcdef0123456789abcdef01234567"


def tagged(commit: Any) -> dict[str, Any]:
    return {} if commit is None else {SOURCE_COMMIT_TAG: commit}


@pytest.mark.parametrize(("commit", "expected"), [
    (GOOD, GOOD),
    (None, None),
    ("--upload-pack=touch /tmp/x", None),
    (GOOD + "\n::error::x", None),
    ("HEAD", None),
    ("", None),
])
def test_only_commit_ids_are_returned(commit: Any, expected: str | None) -> None:
    service = SimpleNamespace(service=SimpleNamespace(tags=tagged(commit)))
    function = SimpleNamespace(tags=tagged(commit), alias_version="3", alias_description="")
    assert ecs.KIND.running_commit(service) == expected  # type: ignore[arg-type]
    assert lambda_.KIND.running_commit(function) == expected  # type: ignore[arg-type]
