"""`release invoke`'s result: the payload for people and machines, exit 1 on a function
error with the log's last lines, and its inputs checked before any cloud call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.adapters.aws.lambda_invoke import Invoked
from release.commands.invoke import Result, payload_bytes, qualifier_of
from release.errors import UsageError

GOOD = Invoked("local-quetzal", "live", "3", b'{"score": 0.5}\n', None, "START\nEND\n")
FAILED = Invoked("local-quetzal", "4", "4", b'{"errorType": "HandlerError"}', "Unhandled",
                 "START RequestId: r\n\x1b[31mboom\nEND RequestId: r\n")


def test_a_good_answer_prints_the_payload_and_exits_0() -> None:
    result = Result("local", "quetzal", GOOD)
    assert result.exit_code == 0
    assert json.loads(result.to_text()) == {"score": 0.5}
    data = json.loads(result.to_json())["data"]
    assert (data["executed_version"], data["function_error"]) == ("3", None)


def test_a_function_error_exits_1_with_what_failed_and_the_log() -> None:
    result = Result("local", "quetzal", FAILED)
    assert result.exit_code == 1
    lines = result.to_text().splitlines()
    assert lines[1] == "quetzal: local-quetzal:4 (version 4) failed: Unhandled"
    assert "  log: \\x1b[31mboom" in lines  # a terminal escape is shown, not run


@pytest.mark.parametrize(("given", "want"), [
    ('{"input": "x"}', b'{"input": "x"}'),
    ("[1, 2]", b"[1, 2]"),
    ('"text"', b'"text"'),
])
def test_inline_payloads(given: str, want: bytes, tmp_path: Path) -> None:
    assert payload_bytes(tmp_path, given) == want


def test_a_payload_file_inside_the_repository(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events/a.json").write_text('{"a": 1}')
    assert payload_bytes(tmp_path, "@events/a.json") == b'{"a": 1}'
    with pytest.raises(UsageError, match="is not JSON"):
        payload_bytes(tmp_path, "{a: 1}")


@pytest.mark.parametrize(("given", "want"), [(None, "live"), ("7", "7"), ("$LATEST", "$LATEST"),
                                             ("blue-2", "blue-2")])
def test_qualifiers(given: str | None, want: str) -> None:
    assert qualifier_of(given, "live") == want
