"""Secrets under GitHub Actions: mask them before anything prints, export through $GITHUB_ENV.

``::add-mask::`` is read by the runner from the step's stdout; from then on the value is
shown as ``***`` in the log. Masking must come first: a value printed before it is not
redacted. Credentials go to ``$GITHUB_ENV`` (later steps of the same job), never to
``$GITHUB_OUTPUT``: a job output holding a masked value is silently dropped.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from release.adapters import github

MIN_MASK_LENGTH = 4  # shorter values would redact ordinary words all over the log


def mask_values(values: Iterable[str]) -> list[str]:
    """The distinct values to mask: each line of each value, trimmed, long enough."""
    out: list[str] = []
    for value in values:
        for raw in value.splitlines():
            line = raw.strip()
            if len(line) >= MIN_MASK_LENGTH and line not in out:
                out.append(line)
    return out


def mask_lines(values: Iterable[str]) -> list[str]:
    """The ``::add-mask::`` commands for ``values`` (each line of a multi-line value), with
    ``%`` escaped: the runner unescapes ``%25``, ``%0A`` and ``%0D`` in a command's data."""
    return [github.format_command("add-mask", line) for line in mask_values(values)]


def mask(*values: str, stream: TextIO | None = None) -> None:
    """Tell the runner to redact ``values``; flushed at once so it precedes any other output.

    Written past the guard that neutralizes workflow commands in everything else printed.
    """
    target = stream or sys.stdout
    for line in mask_lines(values):
        github.write_command(target, line)
    target.flush()


def export_env(path: Path, variables: Mapping[str, str]) -> None:
    """Append variables to ``$GITHUB_ENV`` (heredoc form, so no value can inject another)."""
    with path.open("a", encoding="utf-8") as handle:
        for name, value in variables.items():
            if "\n" in name or "=" in name:
                raise ValueError(f"invalid environment variable name {name!r}")
            delimiter = f"EOF_{secrets.token_hex(8)}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
