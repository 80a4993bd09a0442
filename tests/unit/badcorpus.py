"""The bad-input corpus under tests/fixtures/bad: each case overlays a valid base repository.

A case directory holds only the files it breaks (they replace the base's) and
``expect.yaml``::

    note: what is wrong, in words
    remove: [paths of base files to delete]
    generate:                  # files too big or too binary to commit
      - {path: release.yaml, text: "prefix", repeat: "line\\n", size: 5242880, hex: "00ff"}
    problems:                  # each must appear as one ERROR line, followed by a hint
      - {file: release.yaml, line: 4, field: services.web, message: "does not exist"}
    count: 3                   # optional: the exact number of problems reported
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BAD = Path(__file__).resolve().parent.parent / "fixtures" / "bad"
BASE = BAD / "_base"
EXPECT = "expect.yaml"


@dataclass(frozen=True)
class Expected:
    """One problem a case must report."""

    file: str
    line: int | None
    field: str
    message: str

    def prefix(self) -> str:
        """How its ERROR line starts: ``ERROR file:line: ``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"ERROR {where}: "


@dataclass(frozen=True)
class Case:
    """A corpus case: its directory and what validate must say about it."""

    name: str
    path: Path
    spec: dict[str, Any]

    @property
    def problems(self) -> list[Expected]:
        """The problems listed in expect.yaml."""
        return [Expected(p["file"], p.get("line"), p.get("field", ""), p["message"])
                for p in self.spec["problems"]]

    @property
    def count(self) -> int | None:
        """The exact number of problems, when the case pins it."""
        value = self.spec.get("count")
        return int(value) if value is not None else None


def cases() -> list[Case]:
    """Every case directory, sorted by name."""
    found = []
    for path in sorted(BAD.iterdir()):
        if path.is_dir() and not path.name.startswith("_"):
            spec = yaml.safe_load((path / EXPECT).read_text("utf-8"))
            found.append(Case(path.name, path, spec))
    return found


def materialize(case: Case, target: Path) -> Path:
    """Base + the case's files (+ generated files, - removed ones) in ``target``."""
    shutil.copytree(BASE, target)
    for item in sorted(case.path.rglob("*")):
        rel = item.relative_to(case.path)
        if item.is_dir() or rel == Path(EXPECT):
            continue
        dest = target / rel
        _make_room(target, rel)
        shutil.copyfile(item, dest)
    for rel in case.spec.get("remove", []):
        (target / rel).unlink()
    for gen in case.spec.get("generate", []):
        dest = target / gen["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = str(gen.get("text", "")).encode()
        if "repeat" in gen:
            chunk = str(gen["repeat"]).encode()
            data += chunk * ((int(gen["size"]) - len(data)) // len(chunk) + 1)
        data += bytes.fromhex(str(gen.get("hex", "")))
        dest.write_bytes(data)
    return target


def _make_room(root: Path, rel: Path) -> None:
    """Create ``rel``'s parent, replacing a base *file* that stands where a directory goes."""
    current = root
    for part in rel.parent.parts:
        current = current / part
        if current.is_file():
            current.unlink()
        current.mkdir(exist_ok=True)
