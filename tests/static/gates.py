"""The third-party gates (zizmor, actionlint, check-jsonschema), run as tools, their findings
read from JSON into ``workflow_rules.Finding`` (rule, file, line, message).

A tool that is not installed is a test failure that says how to install it, never a skip:
a gate that silently does not run is no gate. They come with the ``test`` extra.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_rules import Finding, line_of, load

TIMEOUT = 120  # seconds: each tool takes well under one on these few files
REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The path of ``name``: beside this Python first (the venv), then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: the workflow gates need it; install the test "
                    f"tools with `.venv/bin/python -m pip install -e '.[test]'` (or run "
                    f"`bash scripts/setup.sh`)", pytrace=False)
    return found


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("GH_TOKEN", None)  # offline, whatever the environment holds
    env.pop("GITHUB_TOKEN", None)
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False, env=env)


def _relative(path: str, cwd: Path) -> str:
    return Path(os.path.relpath(Path(cwd, path).resolve(), cwd)).as_posix()


def zizmor(paths: list[Path], cwd: Path = REPO) -> list[Finding]:
    """``zizmor --offline`` over workflows and actions; one finding per audit hit."""
    done = _run([tool("zizmor"), "--offline", "--strict-collection", "--format", "json",
                 "--no-progress",
                 *[str(p.resolve()) for p in paths]], cwd)
    if not done.stdout.strip():
        pytest.fail(f"zizmor failed (exit {done.returncode}): {done.stderr[-2000:]}",
                    pytrace=False)
    out = []
    for hit in json.loads(done.stdout):
        primary = next((loc for loc in hit["locations"] if loc["symbolic"].get("kind")
                        == "Primary"), hit["locations"][0])
        where = primary["symbolic"]["key"]["Local"]
        path = where.get("verbatim_path") or where.get("given_path")
        out.append(Finding(hit["ident"], _relative(path, cwd),
                           primary["concrete"]["location"]["start_point"]["row"] + 1,
                           f"{hit['desc']} ({hit['determinations']['severity']})"))
    return out


def actionlint(paths: list[Path], cwd: Path = REPO) -> list[Finding]:
    """``actionlint`` over workflow files, with shellcheck on every ``run:`` script."""
    done = _run([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-format",
                 "{{json .}}", *[str(p.resolve()) for p in paths]], cwd)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not done.stdout.strip()):
        pytest.fail(f"actionlint failed (exit {done.returncode}): {done.stderr[-2000:]}",
                    pytrace=False)
    return [Finding(e["kind"], _relative(e["filepath"], cwd), e["line"], e["message"])
            for e in json.loads(done.stdout or "[]")]


def schema(builtin: str, paths: list[Path], cwd: Path = REPO) -> list[Finding]:
    """``check-jsonschema --builtin-schema NAME``; each error placed on the line of the field
    it names (check-jsonschema gives a JSON path, not a line)."""
    done = _run([tool("check-jsonschema"), "--builtin-schema", builtin, "--output-format",
                 "json", *[str(p.resolve()) for p in paths]], cwd)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"check-jsonschema failed (exit {done.returncode}): "
                    f"{(done.stdout + done.stderr)[-2000:]}", pytrace=False)
    out = []
    for error in [*report.get("errors", []), *report.get("parse_errors", [])]:
        file = error.get("filename", "")
        message = error.get("message", "")
        out.append(Finding(f"schema:{builtin}", _relative(file, cwd),
                           _line(Path(cwd, file), error.get("path", "$"), message), message))
    return out


def _line(file: Path, json_path: str, message: str) -> int:
    parts: list[str | int] = [int(index) if index else key for key, index
                              in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", json_path)]
    try:
        doc = load(file)
    except Exception:  # noqa: BLE001 - unreadable YAML: the error itself says so
        return 1
    named = re.search(r"\('([^']+)' was unexpected\)", message)
    return line_of(doc, [*parts, named.group(1)] if named else parts)
