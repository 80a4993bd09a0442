"""The hostile-input harness: a valid repository, one hostile change, one command, and checks.

Each case is what someone who can push a branch might commit (a config value, a symbolic
link, a FIFO) and the command a workflow would then run. The harness builds the repository
in a temporary directory beside a decoy directory ``outside`` (holding a file whose text
must never show up), runs ``release`` in-process, and checks that:

- the command exits with the expected code (2 for bad input) and never with a traceback
  or an "internal error";
- the ERROR line names the file, a line number whose text holds the offending key, the
  field, and is followed by a hint;
- nothing outside the repository and the Python installation was opened (an audit hook
  on ``open``), no connection was attempted (an audit hook on ``socket.connect``), and
  neither the decoy's text nor the case's secret value appears in the output.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.cli import main

DECOY = "DECOY-CONTENT-FROM-OUTSIDE-THE-REPOSITORY"
DELETE = object()  # a `set` value that removes the field
_NO_GIT_VERBS = frozenset({"validate"})  # every other verb reads git

BASE: dict[str, str] = {
    "release.yaml": """\
version: 1
defaults:
  build_args:
    PYTHON_VERSION: "3.12"
services:
  web:
    context: services/web
    ecs:
      task_definition: services/web/task.json
  worker:
    context: services/worker
    lambda: {}
    step_functions:
      definition: services/worker/flow.asl.json
    s3_files:
      - source: services/worker/model
        key: models/${env}/
  batch:
    context: services/batch
    azure_container_app: {}
""",
    "environments/dev.yaml": """\
name: dev
aws:
  region: eu-west-1
  account_id: "123456789012"
  role_arn: arn:aws:iam::123456789012:role/release-dev
azure:
  tenant_id: 6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21
  client_id: 2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58
  subscription_id: 9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24
registry:
  type: ecr
ecs:
  cluster: dev
s3:
  bucket: acme-dev-artifacts
services:
  web:
    ecs:
      execution_role_arn: arn:aws:iam::123456789012:role/dev-ecs-execution
      task_role_arn: arn:aws:iam::123456789012:role/dev-web-task
      environment:
        LOG_LEVEL: info
  worker:
    lambda:
      environment:
        MODEL_NAME: quetzal
  batch:
    registry:
      type: acr
      host: acmebatch.azurecr.io
    azure_container_app:
      name: batch-detector
      resource_group: rg-batch
""",
    "services/web/Dockerfile": "FROM busybox\nCOPY . /app\n",
    "services/web/task.json": """\
{
  "family": "web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "placeholder",
      "essential": true,
      "portMappings": [{"containerPort": 80}],
      "environment": [{"name": "PORT", "value": "80"}]
    }
  ]
}
""",
    "services/worker/Dockerfile": "FROM busybox\nCOPY . /app\n",
    "services/worker/flow.asl.json": """\
{
  "StartAt": "Run",
  "States": {"Run": {"Type": "Task", "Resource": "${function_arn}", "End": true}}
}
""",
    "services/worker/model/weights.txt": "0.1 0.2 0.3\n",
    "services/batch/Dockerfile": "FROM busybox\nCOPY . /app\n",
}


@dataclass(frozen=True)
class Case:
    """One hostile change and what ``release`` must say about it."""

    name: str
    message: str                      # text the ERROR line must hold
    file: str | None = None           # the file the ERROR line names (None: not a config error)
    field: str | None = None          # the dotted field it names
    # file -> {dotted field: value} (DELETE removes it)
    set: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    write: Mapping[str, str | bytes] = dataclasses.field(default_factory=dict)  # whole files
    # path -> link target ("{outside}" stands for the decoy directory)
    links: Mapping[str, str] = dataclasses.field(default_factory=dict)
    fifos: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    argv: tuple[str, ...] = ("validate",)
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)
    secret: str | None = None         # a value that must never be printed
    exit: int = 2

    def __str__(self) -> str:
        return self.name


@dataclass
class Outcome:
    """What one run did."""

    code: int
    out: str
    err: str
    opened: list[str]
    connected: list[Any]


# --- the audit hook: installed once, recording only while a case runs --------------------

_recording: dict[str, list[Any]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is None:
        return
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _recording["opened"].append(os.fsdecode(args[0]))
    elif event == "socket.connect":
        _recording["connected"].append(args[1] if len(args) > 1 else args)


sys.addaudithook(_audit)


@contextmanager
def _recorded() -> Iterator[dict[str, list[Any]]]:
    global _recording  # noqa: PLW0603 - the audit hook cannot be removed: it reads this
    _recording = {"opened": [], "connected": []}
    try:
        yield _recording
    finally:
        _recording = None


def _allowed_prefixes(root: Path) -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.realpath(p) + os.sep for p in
                 {*paths, sys.prefix, sys.base_prefix, sys.exec_prefix, str(root),
                  str(Path(__file__).resolve().parents[2] / "release")})


def outside_opens(opened: list[str], root: Path) -> list[str]:
    """Paths opened outside the repository, the Python installation and release-* temp dirs."""
    allowed = _allowed_prefixes(root)
    temp = os.path.realpath(tempfile.gettempdir()) + os.sep
    out = []
    for path in opened:
        if path in {"/dev/null"} or path.startswith("/dev/fd/"):
            continue
        real = os.path.realpath(Path.cwd() / path)
        if real.startswith(allowed) or real + os.sep in allowed:
            continue
        if real.startswith(temp) and Path(real).parent.name.startswith(("release-", "tmp")):
            continue  # release's own scratch files (a copied git index)
        out.append(path)
    return out


# --- building the repository ---------------------------------------------------------------

_INDEX = re.compile(r"^(.*)\[(\d+)\]$")


def _set(data: Any, dotted: str, value: Any) -> None:
    parts: list[str | int] = []
    for part in dotted.split("."):
        match = _INDEX.match(part)
        if match:
            parts.extend([match.group(1), int(match.group(2))])
        else:
            parts.append(part)
    node = data
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


def build(case: Case, tmp: Path) -> tuple[Path, Path]:
    """The repository for ``case`` (and the decoy directory beside it)."""
    root, outside = tmp / "repo", tmp / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(DECOY + "\n")
    (outside / "dir" / "secret.txt").write_text(DECOY + "\n")
    for rel, text in BASE.items():
        _write(root / rel, text)
    for rel, changes in case.set.items():
        _edit(root / rel, changes)
    for rel, content in case.write.items():
        _write(root / rel, content)
    for rel in case.remove:
        _clear(root / rel)
    for rel, target in case.links.items():
        _clear(root / rel)
        (root / rel).symlink_to(target.format(outside=outside))
    for rel in case.fifos:
        _clear(root / rel)
        os.mkfifo(root / rel)
    if case.argv[0] not in _NO_GIT_VERBS:
        _commit(root)
    return root, outside


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _edit(path: Path, changes: Mapping[str, Any]) -> None:
    """Set fields of a YAML or JSON file (written back in the same language)."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        for dotted, value in changes.items():
            _set(data, dotted, value)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        _set(data, dotted, value)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=1000))


def _clear(path: Path) -> None:
    """Remove whatever is at ``path`` (file, link or directory) and make its parent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)


def _commit(root: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "--all"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                       timeout=30)


# --- running and checking --------------------------------------------------------------------

class _TimeoutError(Exception):
    pass


def run(case: Case, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Outcome, Path]:
    """Build the repository and run the case's command in-process, bounded to 30 s."""
    root, _ = build(case, tmp)

    def expire(*_: object) -> None:
        raise _TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    try:
        with _recorded() as seen:
            code = main([*case.argv, "--root", str(root)], environ=dict(case.environ))
    except _TimeoutError:
        pytest.fail(f"{case.name}: release hung (30 s) instead of refusing the input")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err, seen["opened"], seen["connected"]), root


def check(case: Case, outcome: Outcome, root: Path) -> None:
    """Every assertion the module docstring promises."""
    both = outcome.out + outcome.err
    assert outcome.code == case.exit, (
        f"{case.name}: exit {outcome.code}, wanted {case.exit}\n{both}")
    assert "Traceback" not in both, both
    assert "internal error" not in both, both
    assert DECOY not in both, f"{case.name}: the decoy's text was printed:\n{both}"
    if case.secret is not None:
        assert case.secret not in both, f"{case.name}: the secret value was printed:\n{both}"
    assert not outcome.connected, f"{case.name}: connected to {outcome.connected}"
    opened = outside_opens(outcome.opened, root)
    assert not opened, f"{case.name}: opened outside the repository: {opened}"
    if case.exit == 0:
        return
    lines = outcome.err.splitlines()
    index = _error_line(case, lines)
    assert index is not None, f"{case.name}: no ERROR line holding {case.message!r}:\n{both}"
    _check_location(case, lines[index], root)
    following = lines[index + 1] if index + 1 < len(lines) else ""
    assert following.lstrip().startswith("hint: "), (
        f"{case.name}: no hint under {lines[index]!r}:\n{outcome.err}")


def _error_line(case: Case, lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if not line.startswith("ERROR ") or case.message not in line:
            continue
        if case.file is None or line.startswith(f"ERROR {case.file}:"):
            return index
    return None


def _check_location(case: Case, line: str, root: Path) -> None:
    if case.file is None or case.field is None:
        return  # not a config problem, or one about the whole file (no line to name)
    match = re.match(rf"ERROR {re.escape(case.file)}:(\d+): {re.escape(case.field)}: ", line)
    assert match, (f"{case.name}: not a located ERROR line naming {case.file}:<line>: "
                   f"{case.field}: {line!r}")
    number = int(match.group(1))
    text = (root / case.file).read_text("utf-8", "replace").splitlines()
    assert 1 <= number <= len(text), f"{case.name}: line {number} is not in {case.file}"
    if case.field.endswith("]"):
        return  # a list item: its line holds the item, not the key
    key = case.field.rsplit(".", 1)[-1]
    assert key in text[number - 1], (
        f"{case.name}: line {number} of {case.file} is {text[number - 1]!r}, which does "
        f"not hold {key!r}")


def ids(cases: list[Case]) -> list[str]:
    """Test ids: the case names, which must be unique."""
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return names


# --- workflow commands: what the GitHub Actions runner would run ----------------------------

# What the runner's line reader ends a line at, and what its TrimStart (or a culture-aware
# StartsWith/IndexOf) may skip: whitespace, control characters, zero-width and bidi marks.
_RUNNER_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_RUNNER_SKIPS = (r"[^\S\r\n]|[\x00-\x08\x0e-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f"
                 r"\u202a-\u202e\u2060-\u206f\ufeff]")
_RUNNER_V2 = re.compile(rf"(?:{_RUNNER_SKIPS})*::")
_RUNNER_LEGACY = re.compile(rf"#(?:{_RUNNER_SKIPS})*#(?:{_RUNNER_SKIPS})*\[")
# The commands release itself writes: at the start of a line, their data escaped.
OUR_COMMANDS = ("::error file=", "::error title=release::", "::add-mask::")


def workflow_commands(text: str) -> list[str]:
    """The lines of ``text`` the runner would read as workflow commands: one that starts
    with ``::`` once leading whitespace is skipped, or that holds ``##[`` anywhere."""
    return [line for line in _RUNNER_LINE_BREAK.split(text)
            if _RUNNER_V2.match(line) or _RUNNER_LEGACY.search(line)]


def check_no_injected_commands(case: Case, outcome: Outcome) -> None:
    """No line of stdout or stderr starts a workflow command, except release's own."""
    for stream, text in (("stdout", outcome.out), ("stderr", outcome.err)):
        forged = [line for line in workflow_commands(text) if not line.startswith(OUR_COMMANDS)]
        assert not forged, (
            f"{case.name}: {stream} would run workflow commands {forged!r}:\n{text}")
