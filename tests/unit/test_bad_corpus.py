"""Every broken configuration in tests/fixtures/bad is refused with a located, fixable error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from badcorpus import BASE, Case, Expected, cases, materialize

from release.cli import main

CASES = cases()
SUMMARY = re.compile(r"^ERROR configuration has (\d+) problems?$")


@dataclass(frozen=True)
class Reported:
    """One ``ERROR file:line: field: message`` line and the hint printed under it."""

    line: str
    hint: str


def reported(stderr: str) -> list[Reported]:
    """The problems printed on stderr, without the closing summary line."""
    out: list[Reported] = []
    for text in stderr.splitlines():
        if text.startswith("ERROR ") and not SUMMARY.match(text):
            out.append(Reported(text, ""))
        elif out and text.startswith("  ") and not text.startswith("::"):
            out[-1] = Reported(out[-1].line, f"{out[-1].hint}{text.strip()}\n")
    return out


def matching(found: list[Reported], want: Expected) -> Reported | None:
    """The reported problem at ``want``'s file:line whose field and message match."""
    for item in found:
        if not item.line.startswith(want.prefix()):
            continue
        rest = item.line[len(want.prefix()):]
        field = rest.split(": ", 1)[0] if want.field else ""
        if want.field in field and want.message in rest:
            return item
    return None


def run_validate(root: Path, capsys: pytest.CaptureFixture[str],
                 environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    code = main(["validate", "--root", str(root)], environ=environ or {})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45
    for case in CASES:
        assert case.spec.get("problems"), f"{case.name}: expect.yaml lists no problem"


def test_base_repository_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Every case changes this base; if it were broken, cases could pass for the wrong reason.
    code, out, err = run_validate(BASE, capsys)
    assert code == 0, err
    assert "dev" in out
    assert "web" in out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_config_is_refused_with_location_and_hint(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = materialize(case, tmp_path / "repo")
    code, out, err = run_validate(root, capsys)

    assert code == 2, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    assert "internal error" not in err
    assert "::error" not in err  # annotations only under GitHub Actions
    found = reported(err)
    for want in case.problems:
        item = matching(found, want)
        assert item is not None, f"{case.name}: no problem like {want} in:\n{err}"
        assert item.hint, f"{case.name}: no hint under {item.line!r}"
    assert all(item.hint for item in found), f"a problem without a hint:\n{err}"
    if case.count is not None:
        assert len(found) == case.count, err
        summary = err.rstrip().splitlines()[-1]
        match = SUMMARY.match(summary)
        assert match is not None, summary
        assert int(match.group(1)) == case.count
    if "hint" in case.spec:
        assert case.spec["hint"] in err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_problem_is_annotated_under_github_actions(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = materialize(case, tmp_path / "repo")
    code, _, err = run_validate(root, capsys, {"GITHUB_ACTIONS": "true"})

    assert code == 2
    annotations = [line for line in err.splitlines() if line.startswith("::error ")]
    for want in case.problems:
        props = f"::error file={want.file}" + (f",line={want.line}" if want.line else "")
        hits = [a for a in annotations
                if a.startswith((props + ",", props + "::"))
                and want.message.replace("%", "%25") in a]
        assert hits, f"no annotation {props}... for {want.message!r} in:\n{err}"
        assert "%0Ahint: " in hits[0]  # the hint travels with the annotation
    if case.count is not None:
        assert len(annotations) == case.count


def test_all_problems_across_files_are_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = next(c for c in CASES if c.name == "many-problems-across-files")
    root = materialize(case, tmp_path / "repo")
    code, _, err = run_validate(root, capsys)

    assert code == 2
    found = reported(err)
    files = {item.line.split(":", 1)[0].removeprefix("ERROR ") for item in found}
    assert files == {"release.yaml", "services/web/task.json", "environments/dev.yaml",
                     "environments/prod.yaml"}
    assert len(found) == 9
    assert err.rstrip().endswith("ERROR configuration has 9 problems")
