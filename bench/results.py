"""Where each benchmark leaves its figures, for people and for the suite.

Every item script of the suite (bench/suite.py) ends with two calls:

    from results import Headline, record, replace_section

    record(3, {"promotion_s": 1.21, "rebuild_s": 30.4, ...},      # raw numbers, any keys
           [Headline("promotion / rebuild wall time", "4.0 %", "under 5 %", met=True)])
    replace_section(3, "## 3. Promotion ...\\n\\n...")            # its own part of RESULTS.md

``record`` writes bench/.results/item-<n>.json (git-ignored) with the run id the suite put
in $RELEASE_BENCH_RUN, so the suite reads only figures measured in its own run.
``replace_section`` rewrites the section whose heading starts with ``## <n>. `` (or, once,
an older heading given as ``legacy``), keeping sections in item order, under a lock so
scripts run side by side do not lose each other's writes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
STORE = BENCH / ".results"
RUN_ENV = "RELEASE_BENCH_RUN"
_NUMBERED = re.compile(r"^## (\d+)\. ", re.MULTILINE)


@dataclass(frozen=True)
class Headline:
    """One figure of the summary table: what, how much, the target, met or not."""

    figure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target for this figure


@dataclass(frozen=True)
class Recorded:
    """What an item script recorded."""

    item: int
    run: str
    measured: str
    command: str
    figures: Mapping[str, Any]
    headlines: tuple[Headline, ...]


def record(item: int, figures: Mapping[str, Any], headlines: Sequence[Headline] = (),
           *, store: Path = STORE) -> Path:
    """Write ``item``'s figures to ``store``/item-<n>.json; return the file."""
    store.mkdir(parents=True, exist_ok=True)
    body = {"item": item, "run": os.environ.get(RUN_ENV, ""),
            "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python", *_relative(sys.argv)]),
            "figures": dict(figures), "headlines": [asdict(h) for h in headlines]}
    target = store / f"item-{item}.json"
    _write_atomically(target, json.dumps(body, indent=2) + "\n")
    return target


def load(item: int, run: str | None = None, *, store: Path = STORE) -> Recorded | None:
    """``item``'s recorded figures; None when absent or (given ``run``) from another run."""
    path = store / f"item-{item}.json"
    if not path.is_file():
        return None
    body = json.loads(path.read_text())
    if run is not None and body.get("run") != run:
        return None
    return Recorded(item=int(body["item"]), run=str(body.get("run", "")),
                    measured=str(body["measured"]), command=str(body.get("command", "")),
                    figures=body.get("figures", {}),
                    headlines=tuple(Headline(**h) for h in body.get("headlines", [])))


def replace_section(item: int, text: str, *, legacy: str | None = None,
                    path: Path = RESULTS) -> None:
    """Put ``text`` (starting ``## <item>. ``) in place of ``item``'s section of ``path``.

    ``legacy``: the start of the heading the section had before it was numbered; that
    section is removed (once) when no numbered one exists. A new section goes before the
    first numbered section of a higher item, else at the end.
    """
    if not text.startswith(f"## {item}. "):
        raise ValueError(f"the section of item {item} must start with '## {item}. '")
    with _locked(path):
        content = path.read_text() if path.exists() else "# Benchmark results\n"
        start, end = _find(content, f"## {item}. ")
        if start < 0 and legacy is not None:
            gone, until = _find(content, legacy)
            if gone >= 0:  # dropped here, put back in item order below
                content = content[:gone] + content[until:]
        if start < 0:
            later = [m.start() for m in _NUMBERED.finditer(content) if int(m.group(1)) > item]
            start = end = later[0] if later else len(content)
            if not later and not content.endswith("\n\n"):
                content = content.rstrip("\n") + "\n\n"
                start = end = len(content)
        tail = content[end:]
        body = text.rstrip("\n") + "\n" + ("\n" if tail else "")
        _write_atomically(path, content[:start] + body + tail)


def replace_top(text: str, *, path: Path = RESULTS) -> None:
    """Replace everything before the first ``## `` section (the title, the machine, the
    summary) with ``text``; ``text`` itself must hold no ``## `` heading."""
    if re.search(r"^## ", text, re.MULTILINE):
        raise ValueError("the top of RESULTS.md holds no '## ' heading")
    with _locked(path):
        content = path.read_text() if path.exists() else ""
        first = re.search(r"^## ", content, re.MULTILINE)
        rest = content[first.start():] if first else ""
        _write_atomically(path, text.rstrip("\n") + "\n\n" + rest)


def section_heading(item: int, path: Path = RESULTS) -> str | None:
    """The heading line of ``item``'s numbered section, if there is one."""
    if not path.exists():
        return None
    found = re.search(rf"^## {item}\. .*$", path.read_text(), re.MULTILINE)
    return found.group(0) if found else None


def stop_on_sigterm() -> None:
    """Turn SIGTERM (the suite's watchdog) into SystemExit, so ``finally`` blocks stop
    what the script started (engines, clouds) before it exits."""
    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _find(content: str, heading_start: str) -> tuple[int, int]:
    """Start and end of the section whose heading line starts with ``heading_start``."""
    found = re.search(rf"^{re.escape(heading_start)}", content, re.MULTILINE)
    if found is None:
        return -1, -1
    following = re.search(r"^## ", content[found.end():], re.MULTILINE)
    end = found.end() + following.start() if following else len(content)
    return found.start(), end


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    STORE.mkdir(parents=True, exist_ok=True)
    with (STORE / f"{path.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        handle.write(text)
    Path(handle.name).replace(path)


def _relative(argv: Sequence[str]) -> list[str]:
    root = BENCH.parent
    out = []
    for arg in argv:
        try:
            out.append(str(Path(arg).resolve().relative_to(root)) if "/" in arg else arg)
        except ValueError:
            out.append(arg)
    return out
