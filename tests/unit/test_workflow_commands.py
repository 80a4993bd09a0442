"""The guard between values and the GitHub Actions runner: no line from a value is a
workflow command; ours (annotations, masks) pass, their data escaped as the runner reads it."""

from __future__ import annotations

import io
import re
import sys
import threading
from pathlib import Path

import pytest

from release import names
from release.adapters import github, github_masks
from release.adapters.aws import deployed
from release.cli import annotation, main, report
from release.commands import deploy
from release.engine.context import log_line
from release.errors import Problem, ReleaseError

# The runner, as tests/hostile/harness.py reads it too: a line ends at \n or \r; it is a
# command when it starts with '::' after whitespace, or holds '##[' anywhere.
_LINE = re.compile(r"\r\n|\r|\n")
_SKIPPED = r"[^\S\r\n]|[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2060\ufeff]"


def commands(text: str) -> list[str]:
    """The lines of ``text`` the runner would run."""
    return [line for line in _LINE.split(text)
            if re.match(rf"(?:{_SKIPPED})*::", line)
            or re.search(rf"#(?:{_SKIPPED})*#(?:{_SKIPPED})*\[", line)]


def guarded(*writes: str) -> str:
    """What reaches the stream beneath after ``writes`` through one guard."""
    out = io.StringIO()
    guard = github.CommandGuard(out)
    for text in writes:
        guard.write(text)
    return out.getvalue()


@pytest.mark.parametrize("value", [
    "dev\n::warning file=x::INJECTED",
    "dev\r::error::INJECTED",
    "dev\r\n::set-output name=x::INJECTED",
    "::add-mask::INJECTED",
    "   ::stop-commands::token",
    "\t::error::INJECTED",
    "\x00::error::INJECTED",
    "\u200b::error::INJECTED",
    "\ufeff::error::INJECTED",
    "\u00a0\u3000::error::INJECTED",
    "a ##[error]INJECTED",
    "##[set-output name=x;]INJECTED",
    "#\u200b#[error]INJECTED",
    "x\n\n\n  ::group::INJECTED\n::endgroup::",
])
def test_a_line_from_a_value_is_neutralized(value: str) -> None:
    assert commands(value)  # the runner would run it as it is
    out = guarded(f"ERROR cluster {value}\n", value, "\n")
    assert commands(out) == []
    assert "INJECTED" in out or "token" in out or "endgroup" in out  # shown, not dropped
    assert github.MARK in out


@pytest.mark.parametrize("writes", [
    (" ", ":", ":error::INJECTED\n"),  # print() of pieces, or a stream that splits writes
    ("x\n", ":", ":error::INJECTED\n"),
    ("x\n  ", "::error::INJECTED"),
    ("x", "\n", "::error::INJECTED"),
    ("x", "\r", "::error::INJECTED"),
    ("a #", "#[error]INJECTED"),
    ("a ##", "[error]INJECTED"),
    ("a #\u200b", "#", "[error]INJECTED"),
])
def test_partial_writes_are_neutralized_across_the_pieces(writes: tuple[str, ...]) -> None:
    assert commands("".join(writes))
    assert commands(guarded(*writes)) == []


@pytest.mark.parametrize("text", [
    "ERROR services.web: x\n  hint: y\n",
    "web  ecs  abc123  built  sha256:1234  revision 5  deployed  1.2s\n",
    "a: b :: c\n",
    "# a heading [1]\n",
    "{\n  \"image\": \"x:1\"\n}\n",
    "",
])
def test_ordinary_lines_pass_unchanged(text: str) -> None:
    assert guarded(text) == text
    assert guarded(*text) == text  # one character at a time


def test_our_annotation_and_mask_pass_the_guard_at_the_start_of_a_line() -> None:
    out = io.StringIO()
    guard = github.CommandGuard(out)
    guard.write("half a line")  # a partial line: our command must start a line of its own
    github.command("error", "50% done\r\nnext: line", stream=guard,  # type: ignore[arg-type]
                   file="a:b,c.yaml", line=3, title=None)
    github_masks.mask("s3cr%0Aet", "  multi\nline value  ", stream=guard)  # type: ignore[arg-type]
    guard.write("::error::INJECTED\n")
    assert out.getvalue().splitlines() == [
        "half a line",
        "::error file=a%3Ab%2Cc.yaml,line=3::50%25 done%0D%0Anext: line",
        "::add-mask::s3cr%250Aet",
        "::add-mask::multi",
        "::add-mask::line value",
        "\\::error::INJECTED",
    ]


def test_command_data_and_properties_are_escaped_as_the_runner_unescapes_them() -> None:
    line = github.format_command("error", "100%\r\n::x", file="x,y:z%", title="")
    assert line == "::error file=x%2Cy%3Az%25::100%25%0D%0A::x"
    assert commands(line) == [line]  # one line, one command
    # The runner's unescaping gives the value back (%0D, %0A, then %25).
    data = line.split("::", 2)[2]
    assert data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%") == "100%\r\n::x"
    with pytest.raises(ValueError, match="not a workflow command name"):
        github.format_command("error::x")


def test_annotation_for_a_problem_is_one_escaped_command() -> None:
    problem = Problem("environments/dev.yaml", 13, "services.web\n::error::x",
                      "'dev\\n' is not valid", "a hint\non two lines")
    line = annotation(problem)
    assert line.startswith("::error file=environments/dev.yaml,line=13,title=services.web%0A")
    assert "\n" not in line
    stream = io.StringIO()
    report(ReleaseError("x"), stream, github=False)
    assert "::" not in stream.getvalue()


def test_under_github_actions_main_guards_both_streams_and_restores_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sys.stdout, sys.stderr
    code = main(["validate", "--root", str(tmp_path), "\n::error::INJECTED"],
                environ={"GITHUB_ACTIONS": "true"})
    assert (sys.stdout, sys.stderr) == before
    err = capsys.readouterr().err
    assert code == 2
    assert "INJECTED" in err
    assert commands(err) == []


def test_outside_github_actions_nothing_is_changed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["validate", "--root", str(tmp_path), "\n::error::x"], environ={})
    assert "\n::error::x" in capsys.readouterr().err


def test_writes_from_several_threads_stay_whole_lines() -> None:
    out = io.StringIO()
    guard = github.CommandGuard(out)

    def log(n: int) -> None:
        for i in range(200):
            guard.write(f"{n}:{i} ::error::x\n")

    threads = [threading.Thread(target=log, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 800
    assert all(re.fullmatch(r"\d:\d+ ::error::x", line) for line in lines)


def test_the_guard_passes_other_attributes_through() -> None:
    out = io.StringIO()
    guard = github.CommandGuard(out)
    assert guard.getvalue() == ""  # delegated to the StringIO
    assert guard.write("abc") == 3
    guard.flush()


def test_deploy_log_shows_a_line_break_in_a_value_escaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    log_line("web: note: running commit abc\n::warning::INJECTED\x1b[2J")
    err = capsys.readouterr().err
    assert err == "web: note: running commit abc\\n::warning::INJECTED\\x1b[2J\n"


def test_deploy_result_text_keeps_cloud_text_off_the_start_of_a_line() -> None:
    outcome = deploy.Outcome("web", "ecs", "k", None, False, False, False, "failed",
                             message="update: InvalidParameter: bad\n::error::INJECTED",
                             hint="x\n##[error]y", detail="revision 1\r::warning::z",
                             url="http://a\n::error::u")
    text = deploy.Result("dev", "abc", (outcome,)).to_text()
    lines = text.splitlines()
    assert not any(line.startswith("::") for line in lines), text
    assert "    ::error::INJECTED" in lines
    assert "revision 1\\r::warning::z" in text
    assert "http://a\\n::error::u" in text


def test_printable_escapes_line_breaks_controls_and_invisible_characters() -> None:
    assert names.printable("plain text: ok\t[1]") == "plain text: ok\t[1]"
    assert names.printable("a\nb\rc\x00d\x1be\u2028f\u200bg\x85") == (
        "a\\nb\\rc\\x00d\\x1be\\u2028f\\u200bg\\x85")


# --- tags read back from the cloud -------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "why"), [
    (deployed.BUILD_KEY_TAG, "0123456789abcdef0123\n::error::INJECTED", "control or invisible"),
    (deployed.SOURCE_COMMIT_TAG, "abc\r##[error]INJECTED", "control or invisible"),
    (deployed.SOURCE_COMMIT_TAG, "--upload-pack=touch /tmp/x", "not all lowercase hex"),
    (deployed.CONFIG_KEY_TAG, "a" * 5000, "5000 characters, at most 64"),
    (deployed.BUILD_KEY_TAG, "", "empty"),
    (deployed.BUILD_KEY_TAG, "0123456789ABCDEF0123", "not all lowercase hex"),
])
def test_a_malformed_tag_value_is_treated_as_absent_and_never_repeated(
        key: str, value: str, why: str) -> None:
    notes: list[str] = []
    assert deployed.tag_value({key: value}, key, "web (ECS)", notes.append) is None
    [note] = notes
    assert note.startswith(f"web (ECS): tag {key} is not ")
    assert why in note
    assert note.endswith("treated as absent")
    for raw in ("INJECTED", "upload", "aaaa", "ABCDEF"):
        assert raw not in note


@pytest.mark.parametrize(("key", "value"), [
    (deployed.BUILD_KEY_TAG, "0123456789abcdef0123"),
    (deployed.BUILD_KEY_TAG, "no-image"),
    (deployed.CONFIG_KEY_TAG, "fedcba9876543210fedc"),
    (deployed.SOURCE_COMMIT_TAG, "3e41972" + "0" * 33),
])
def test_a_tag_value_of_the_shape_a_release_writes_is_kept(key: str, value: str) -> None:
    notes: list[str] = []
    assert deployed.tag_value({key: value}, key, "web (ECS)", notes.append) == value
    assert deployed.tag_value({}, key, "web (ECS)", notes.append) is None
    assert notes == []


def test_a_malformed_tag_note_goes_to_the_log_by_default(
        capsys: pytest.CaptureFixture[str]) -> None:
    tags = {deployed.SOURCE_COMMIT_TAG: "abc\n::error::INJECTED"}
    assert deployed.tag_value(tags, deployed.SOURCE_COMMIT_TAG, "api (Lambda)") is None
    err = capsys.readouterr().err
    assert err.startswith("note: api (Lambda): tag release:source-commit is not a commit SHA")
    assert "INJECTED" not in err
    assert err.count("\n") == 1
