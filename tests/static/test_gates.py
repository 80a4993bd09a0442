"""The workflow gates: nothing on our workflows and actions; the rule, file and line on each
deliberately bad fixture (tests/fixtures/workflows-bad/<case>/, with an expect.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gates
import pytest
import workflow_rules
import yaml
from workflow_rules import Finding

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "fixtures" / "workflows-bad"
CASES = sorted(p.name for p in BAD.iterdir() if (p / "expect.yaml").is_file())


def _workflows(root: Path) -> list[Path]:
    return workflow_rules.files(root)[0]


def _actions(root: Path) -> list[Path]:
    return workflow_rules.files(root)[1]


def _zizmor(root: Path) -> list[Finding]:
    return gates.zizmor([p for p in (root / ".github" / "workflows", root / "actions")
                         if p.is_dir()], root)


def _schema(root: Path) -> list[Finding]:
    found = []
    if _workflows(root):
        found += gates.schema("vendor.github-workflows", _workflows(root), root)
    if _actions(root):
        found += gates.schema("vendor.github-actions", _actions(root), root)
    return found


GATES: dict[str, Callable[[Path], list[Finding]]] = {
    "rules": workflow_rules.check,
    "zizmor": _zizmor,
    "actionlint": lambda root: gates.actionlint(_workflows(root), root),
    "schema": _schema,
}


def _show(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings) or "(nothing)"


def test_there_is_something_to_check() -> None:
    workflows, actions = workflow_rules.files(REPO)
    assert REPO / ".github" / "workflows" / "ci.yml" in workflows
    assert len(workflows) + len(actions) >= 1


@pytest.mark.parametrize("gate", sorted(GATES))
def test_our_workflows_and_actions_pass(gate: str) -> None:
    found = GATES[gate](REPO)
    assert found == [], f"{gate} reports:\n{_show(found)}"


def _expected(case: str) -> dict[str, set[tuple[str, str, int]]]:
    data = yaml.safe_load((BAD / case / "expect.yaml").read_text("utf-8"))
    return {gate: {(rule, file, line) for rule, file, line in rows}
            for gate, rows in data.items()}


@pytest.mark.parametrize("case", CASES)
def test_each_bad_fixture_is_caught_with_rule_file_and_line(case: str) -> None:
    for gate, wanted in _expected(case).items():
        found = GATES[gate](BAD / case)
        got = {(f.rule, f.file, f.line) for f in found}
        if gate == "rules":  # ours: exactly these, no false alarm beside them
            assert got == wanted, f"{case}: rules reports:\n{_show(found)}"
        else:
            assert wanted <= got, f"{case}: {gate} reports:\n{_show(found)}"
        assert all(f.message for f in found)


def test_every_gate_is_proven_to_fail_on_some_fixture() -> None:
    proven = {gate for case in CASES for gate, rows in _expected(case).items() if rows}
    assert proven == set(GATES)
    rules = {rule for case in CASES for rule, _, _ in _expected(case).get("rules", ())}
    assert rules == {"unpinned-uses", "expression-in-run", "top-level-permissions",
                     "id-token-write", "untrusted-trigger-deploy"}


def test_a_missing_tool_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gates.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(pytest.fail.Exception, match=r"zizmor is not installed.*\[test\]"):
        gates.tool("zizmor")
