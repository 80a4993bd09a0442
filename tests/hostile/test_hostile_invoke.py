"""Hostile inputs of `release invoke` (a workflow may pass a dispatch input as --payload or
--qualifier): a payload file outside the repository (``..``, a link, an absolute link), a
FIFO, a directory, a payload that is not JSON or is over Lambda's 6 MB, a qualifier with
a wildcard, control characters or over 128 characters. Each exits 2 with a hint before any
connection, and nothing outside the repository is opened or printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Case, check, check_no_injected_commands, ids, run

INVOKE = ("invoke", "--env", "dev", "worker")
CASES = [
    Case("payload-file-up-and-out", "leads outside the repository",
         argv=(*INVOKE, "--payload", "@../outside/secret.txt")),
    Case("payload-file-linked-outside", "leads outside the repository",
         argv=(*INVOKE, "--payload", "@events/sample.json"),
         links={"events/sample.json": "{outside}/secret.txt"}),
    Case("payload-dir-linked-outside", "leads outside the repository",
         argv=(*INVOKE, "--payload", "@events/dir/secret.txt"),
         links={"events/dir": "{outside}/dir"}),
    Case("payload-file-is-a-fifo", "not a regular file",
         argv=(*INVOKE, "--payload", "@events/pipe.json"), fifos=("events/pipe.json",)),
    Case("payload-file-is-a-directory", "--payload @events",
         argv=(*INVOKE, "--payload", "@events"), write={"events/a.json": "{}"}),
    Case("payload-file-missing", "--payload @events/none.json",
         argv=(*INVOKE, "--payload", "@events/none.json")),
    Case("payload-file-not-json", "is not JSON",
         argv=(*INVOKE, "--payload", "@events/bad.json"),
         write={"events/bad.json": "::error::injected\nnot json"}),
    Case("payload-file-over-6-mb", "larger than",
         argv=(*INVOKE, "--payload", "@events/big.json"),
         write={"events/big.json": b'"' + b"x" * (6 * 1024 * 1024 + 8) + b'"'}),
    Case("payload-inline-not-json", "is not JSON", argv=(*INVOKE, "--payload", "{input: x")),
    Case("payload-inline-workflow-command", "is not JSON",
         argv=(*INVOKE, "--payload", "\n::add-mask::x\n##[error]forged")),
    Case("qualifier-wildcard", "is not a version or alias name",
         argv=(*INVOKE, "--qualifier", "*")),
    Case("qualifier-control-characters", "is not a version or alias name",
         argv=(*INVOKE, "--qualifier", "live\n::error::forged")),
    Case("qualifier-too-long", "is not a version or alias name",
         argv=(*INVOKE, "--qualifier", "a" * 129)),
    Case("qualifier-arn-injection", "is not a version or alias name",
         argv=(*INVOKE, "--qualifier", "live:arn:aws:lambda:us-east-1:1:function:other")),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_invoke_inputs(case: Case, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    check_no_injected_commands(case, outcome)
