"""The hostile suite's base repository is valid: every case fails only for its own change."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Case, check, run

VALID = [
    Case("base-validates", "", argv=("validate",), exit=0),
    Case("base-renders", "", argv=("render", "--env", "dev", "web"), exit=0),
    Case("base-trust-policy", "", argv=("iam", "trust-policy", "--env", "dev", "--repo",
                                        "acme/shop"), exit=0),
]


@pytest.mark.parametrize("case", VALID, ids=str)
def test_base_repository_is_valid(case: Case, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
