"""Rendering results for people (aligned tables) and machines (a versioned JSON envelope)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

JSON_SCHEMA_VERSION = 1


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain, aligned text table."""
    cells = [[str(h) for h in headers], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def envelope(kind: str, data: Any) -> str:
    """``{"version": 1, "kind": ..., "data": ...}`` as indented JSON."""
    return json.dumps({"version": JSON_SCHEMA_VERSION, "kind": kind, "data": data}, indent=2,
                      sort_keys=False)
