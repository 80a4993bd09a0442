"""The job summary of `release deploy`: diagram, one table, failures first with their hints."""

from __future__ import annotations

from dataclasses import replace

from release.commands.deploy import Outcome, Result

DIGEST = "sha256:" + "a" * 64
BASE = Outcome("autovision", "ecs", "k" * 64, DIGEST, built=True, registered=True,
               updated=True, status="deployed", reason="build key differs",
               detail="revision 7", seconds=42.25, url="http://autovision.example")


def _result(*outcomes: Outcome, dry_run: bool = False) -> Result:
    return Result("prod", "c" * 40, outcomes, dry_run)


def _table(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


def test_one_table_with_every_column_for_a_deployed_service() -> None:
    text = _result(BASE).summary_markdown()
    header, row = _table(text)
    assert header == ["", "service", "target", "why", "image", "digest", "revision / version",
                      "rollout", "url", "time"]
    assert row == ["✅", "autovision", "ecs", "build key differs", "built",
                   f"`{DIGEST[:19]}`", "revision 7", "deployed", "http://autovision.example",
                   "42.2s"]
    assert text.startswith("### release to `prod` at `cccccccccccc`\n")
    assert sum(line.startswith("|---") for line in text.splitlines()) == 1  # one table
    assert 'plan["plan: 1 service, 1 target"]' in text


def test_failures_come_first_with_their_hints_and_rollbacks() -> None:
    failed = replace(BASE, service="zeta", status="failed", updated=False, url=None,
                     message="deployment FAILED: tasks failed to start | exit 137",
                     hint="raise memory in environments/prod.yaml\nthen rerun",
                     rolled_back_to="prod-zeta:6", detail="")
    lam = replace(BASE, service="worker", target="lambda", built=False, status="unchanged",
                  updated=False, detail="version 3", url=None, reason="up to date")
    text = _result(BASE, lam, failed).summary_markdown()
    rows = _table(text)[1:]
    assert [r[1] for r in rows] == ["zeta", "autovision", "worker"]
    assert rows[0][7] == "failed, rolled back to prod-zeta:6"
    assert rows[2][4] == "reused"
    assert "\\| exit 137" in text  # a pipe cannot break a table or a line
    assert text.splitlines()[0].endswith(": 1 failed")
    details = text.split("**zeta ecs**: ", 1)[1].splitlines()
    assert details[0] == "deployment FAILED: tasks failed to start \\| exit 137"
    assert details[1:3] == ["> hint: raise memory in environments/prod.yaml", "> then rerun"]


def test_the_diagram_counts_plan_build_and_deploy() -> None:
    reused = replace(BASE, service="worker", target="lambda", built=False, status="unchanged")
    broken = Outcome("api", "ecs", "k", None, built=False, registered=False, updated=False,
                     status="failed", message="build: RUN make failed", seconds=3.0)
    text = _result(BASE, reused, replace(reused, target="step_functions"),
                   broken).summary_markdown()
    mermaid = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert 'plan["plan: 3 services, 4 targets"]' in mermaid
    assert 'build["build: 1 built, 1 reused, 1 failed"]' in mermaid
    assert 'deploy["deploy prod: 1 deployed, 2 unchanged, 1 failed"]' in mermaid
    assert "plan --> build --> deploy" in mermaid
    assert "style build fill:#fdd" in mermaid
    assert "style deploy fill:#fdd" in mermaid


def test_a_clean_run_has_no_red_and_a_dry_run_says_so() -> None:
    planned = replace(BASE, status="planned", built=False, digest=None, seconds=0.0, url=None,
                      detail="")
    text = _result(planned, dry_run=True).summary_markdown()
    assert "(dry run)" in text.splitlines()[0]
    assert 'deploy["deploy prod (dry run): 1 planned"]' in text
    assert 'build["build: nothing"]' in text
    assert "fill:#fdd" not in text
    assert _table(text)[1][-1] == ""  # no time for what did not run
    assert "**" not in text  # no failure section


def test_it_stays_compact() -> None:
    many = [replace(BASE, service=f"s{i}") for i in range(20)]
    lines = _result(*many).summary_markdown().splitlines()
    assert len(lines) == 2 + 7 + 1 + 2 + 20  # title, diagram, table
