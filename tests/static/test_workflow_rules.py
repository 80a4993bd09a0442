"""Our workflow rules on small inline files: what they flag, and what they must leave alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import workflow_rules

SHA = "d23441a48e516b6c34aea4fa41551a30e30af803"


def _check(tmp_path: Path, workflow: str, **others: str) -> list[tuple[str, int]]:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.yml").write_text(textwrap.dedent(workflow))
    for name, text in others.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return [(f.rule, f.line) for f in workflow_rules.check(tmp_path)]


HEAD = """\
name: w
on: push
permissions:
  contents: read
jobs:
  j:
    runs-on: ubuntu-latest
"""


@pytest.mark.parametrize(("steps", "expected"), [
    (f"      - uses: actions/checkout@{SHA} # v6.1.0\n", []),
    ("      - uses: ./actions/setup\n", []),
    ("      - uses: docker://alpine@sha256:" + "a" * 64 + "\n", []),
    ("      - uses: actions/checkout@v6\n", [("unpinned-uses", 9)]),
    (f"      - uses: actions/checkout@{SHA[:12]}\n", [("unpinned-uses", 9)]),
    ("      - uses: actions/checkout\n", [("unpinned-uses", 9)]),
    ("      - env:\n          T: ${{ github.event.issue.title }}\n        run: echo \"$T\"\n",
     []),
    ("      - run: echo ${{ github.sha }}\n", [("expression-in-run", 9)]),
    ("      - run: >\n          echo a\n          echo ${{ inputs.x }}\n",
     [("expression-in-run", 11)]),
])
def test_steps(tmp_path: Path, steps: str, expected: list[tuple[str, int]]) -> None:
    assert _check(tmp_path, HEAD + "    steps:\n" + steps) == expected


def test_a_reusable_workflow_call_must_be_pinned_too(tmp_path: Path) -> None:
    found = _check(tmp_path, """\
        on: push
        permissions: {}
        jobs:
          call:
            uses: acme/tools/.github/workflows/x.yml@main
        """)
    assert found == [("unpinned-uses", 5)]


@pytest.mark.parametrize(("permissions", "ok"), [
    ("permissions: {}", True),
    ("permissions:\n  contents: read", True),
    ("permissions:\n  contents: read\n  actions: none", True),
    ("permissions: read-all", False),
    ("permissions: write-all", False),
    ("permissions:\n  contents: write", False),
    ("permissions:\n  id-token: write", False),
])
def test_top_level_permissions(tmp_path: Path, permissions: str, ok: bool) -> None:
    found = _check(tmp_path, f"on: push\n{permissions}\njobs:\n  j:\n    runs-on: x\n"
                             f"    steps:\n      - run: make\n")
    assert found == ([] if ok else [("top-level-permissions", 2)])


@pytest.mark.parametrize(("step", "ok"), [
    ("- uses: ./actions/auth-aws", True),
    ("- uses: ./.release-tool/actions/deploy", True),
    ("- uses: acme/release/actions/build@" + SHA, True),
    (f"- uses: aws-actions/configure-aws-credentials@{SHA}", True),
    ("- run: release auth aws --env dev", True),
    ("- run: release plan --env dev --output matrix", True),
    ("- run: pytest", False),
    ("- uses: ./actions/validate", False),
])
def test_id_token_write_only_where_a_job_authenticates(tmp_path: Path, step: str,
                                                       ok: bool) -> None:
    found = _check(tmp_path, f"""\
        on: push
        permissions:
          contents: read
        jobs:
          j:
            runs-on: x
            permissions:
              id-token: write
            steps:
              {step}
        """)
    assert found == ([] if ok else [("id-token-write", 7)])


def test_a_job_calling_a_reusable_workflow_may_pass_the_token_on(tmp_path: Path) -> None:
    found = _check(tmp_path, f"""\
        on: push
        permissions: {{}}
        jobs:
          call:
            permissions:
              id-token: write
            uses: acme/release/.github/workflows/deploy.yml@{SHA}
        """)
    assert found == []


@pytest.mark.parametrize("on", ["pull_request_target", "[push, workflow_run]",
                                "\n  pull_request_target:\n    types: [opened]"])
def test_untrusted_triggers_are_flagged_only_when_a_deploy_is_reached(tmp_path: Path,
                                                                      on: str) -> None:
    harmless = f"on: {on}\npermissions: {{}}\njobs:\n  j:\n    runs-on: x\n    steps:\n" \
               f"      - run: echo hello\n"
    assert _check(tmp_path, harmless) == []
    deploys = harmless.replace("run: echo hello", "run: release deploy --env dev")
    [(rule, _)] = _check(tmp_path, deploys)
    assert rule == "untrusted-trigger-deploy"


def test_a_deploy_two_reusable_workflows_away_is_found_and_cycles_end(tmp_path: Path) -> None:
    found = _check(tmp_path, """\
        on: workflow_run
        permissions: {}
        jobs:
          a:
            uses: ./.github/workflows/b.yml
        """, **{
        ".github__workflows__b.yml": "on: workflow_call\npermissions: {}\njobs:\n  b:\n"
                                     "    uses: ./.github/workflows/c.yml\n  loop:\n"
                                     "    uses: ./.github/workflows/b.yml\n",
        ".github__workflows__c.yml": "on: workflow_call\npermissions: {}\njobs:\n  c:\n"
                                     "    runs-on: x\n    environment: prod\n"
                                     "    steps:\n      - run: make\n"})
    assert ("untrusted-trigger-deploy", 1) in found


def test_a_broken_yaml_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    assert _check(tmp_path, "on: [push\n") == [("yaml", 2)]
