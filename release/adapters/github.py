"""GitHub Actions files: step outputs (``$GITHUB_OUTPUT``) and the job summary."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append ``name=value`` pairs; multi-line values use a random heredoc delimiter."""
    with path.open("a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            if "\n" in value:
                delimiter = f"EOF_{secrets.token_hex(8)}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")


def append_summary(path: Path, markdown: str) -> None:
    """Append Markdown to the job summary."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip() + "\n")
