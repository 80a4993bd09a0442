"""``release schema --write DIR``: the JSON Schemas of release.yaml and the environment
files, written where a repository's editors find them (VS Code YAML reads the
``# yaml-language-server: $schema=...`` line at the top of each file)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import repo_files
from release.config.schema import published
from release.errors import UsageError
from release.output import envelope


@dataclass(frozen=True)
class Result:
    """The schema files written, and the lines that point editors at them."""

    written: tuple[str, ...]
    directory: str

    def to_text(self) -> str:
        """The files, then the first line to put in each config file."""
        depth = "../" if self.directory and not self.directory.startswith("/") else ""
        return "\n".join([*(f"wrote {p}" for p in self.written), "",
                          "first line of release.yaml:",
                          f"  # yaml-language-server: $schema={self.directory}/"
                          "release.schema.json",
                          "first line of environments/<env>.yaml:",
                          f"  # yaml-language-server: $schema={depth}{self.directory}/"
                          "environment.schema.json"])

    def to_json(self) -> str:
        """Versioned JSON."""
        return envelope("schema", {"written": list(self.written)})


def run(root: Path, directory: str, *, overwrite: bool = False) -> Result:
    """Write both schemas under ``root/directory`` (new files, unless ``overwrite``)."""
    files = published(directory.rstrip("/") or ".")
    for path, text in files.items():
        if overwrite and (root / path).is_file() and not (root / path).is_symlink():
            (root / path).unlink()  # a newer tool's schema replaces the old one
        try:
            repo_files.write_new(root, path, text)
        except repo_files.PathRefused as exc:
            raise UsageError(exc.message, f"{exc.hint}, or pass --force to replace it"
                             if "exists" in exc.message else exc.hint) from None
    return Result(tuple(files), directory.rstrip("/"))


def register(sub: Any) -> None:
    """Add ``schema`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "schema", help="write the JSON Schemas for editors",
        description="Write release.schema.json and environment.schema.json into DIR (inside "
                    "the repository), for editors' autocompletion and checks as you type.")
    parser.add_argument("--write", required=True, metavar="DIR",
                        help="directory relative to the repository root, e.g. schemas")
    parser.add_argument("--force", action="store_true", help="replace existing schema files")
    parser.set_defaults(handler=lambda args: run(args.root, args.write, overwrite=args.force))
