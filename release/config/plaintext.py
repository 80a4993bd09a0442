"""Plaintext credentials in YAML config files: located problems, and the reviewed exceptions.

A value the check refuses is kept only when a reviewer can see why, in a comment on its
line: ``OAUTH_CLIENT_ID: 8f0c...  # release: allow-plaintext (public client id, in the login
page)``. The reason is required: in parentheses, or after a dash or a colon. Nothing else
silences the check; ``grep -rn allow-plaintext`` lists every exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import repo_files
from release.config.credentials import find_secret, secrets_hint
from release.config.source import MAX_CONFIG_BYTES, PathKey, Source, dotted
from release.errors import Problem

MARKER = "release: allow-plaintext"
EXAMPLE = "# release: allow-plaintext (why it is not a secret)"
_COMMENT = re.compile(r"(?:^|\s)#\s*release:\s*allow-plaintext\b(?P<rest>.*)$")
_REASON = re.compile(r"\s*(?:\((?P<paren>[^()]*)\)|[-\u2013\u2014:]\s*(?P<dash>.*?))\s*")
_WORD = re.compile(r"[^\W\d_]{2,}")
_CACHED = 8  # sources whose lines are kept: the files of one load


@dataclass(frozen=True)
class Allowance:
    """An allow-plaintext comment; ``reason`` is empty when it gives none."""

    reason: str


def allowance(line: str, value: str) -> Allowance | None:
    """The allow-plaintext comment on ``line`` (which holds ``value``), or None."""
    if "allow-plaintext" not in line or "allow-plaintext" in value:
        return None  # a marker inside the value itself is text, not a comment
    comment = _COMMENT.search(line)
    if comment is None:
        return None
    said = _REASON.fullmatch(comment.group("rest"))
    reason = (said.group("paren") or said.group("dash") or "").strip() if said else ""
    return Allowance(reason if _WORD.search(reason) else "")


_lines_cache: dict[int, tuple[Source, list[str]]] = {}


def _lines(source: Source, root: Path) -> list[str]:
    cached = _lines_cache.get(id(source))
    if cached is not None and cached[0] is source:
        return cached[1]
    text = source.text
    if text is None:  # parsed with its lines recorded: read the text again, as safely
        try:
            text = repo_files.read_bounded(root, source.path, MAX_CONFIG_BYTES).decode("utf-8")
        except (OSError, ValueError, repo_files.PathRefused):
            text = ""
    lines = text.splitlines()
    if len(_lines_cache) >= _CACHED:
        _lines_cache.clear()
    _lines_cache[id(source)] = (source, lines)
    return lines


def allowance_at(source: Source, root: Path, path: PathKey, value: str) -> Allowance | None:
    """The allow-plaintext comment on the line of the field at ``path`` (its key's line, or
    where its value starts), or None."""
    lines = _lines(source, root)
    for number in (source.line(path), source.value_lines.get(tuple(path))):
        if number is not None and 0 < number <= len(lines):
            found = allowance(lines[number - 1], value)
            if found is not None:
                return found
    return None


def problem(source: Source, root: Path, path: PathKey, *, value: str, why: str,
            hint: str) -> Problem | None:
    """The problem for a credential ``why`` found at ``path``; None when its line allows it."""
    allowed = allowance_at(source, root, path, value)
    if allowed is not None and allowed.reason:
        return None
    message = f"plaintext credential: {why}"
    if allowed is not None:
        message += "; its allow-plaintext comment gives no reason"
        hint = (f"a reviewer must see why it is not a secret: write {EXAMPLE}; "
                f"if it is one:\n{hint}")
    else:
        hint += f"\nonly if it is not a credential, keep it and say why on its line: {EXAMPLE}"
    return Problem(source.path, source.line(path), dotted(path), message, hint)


def build_arg_hint(service: str, name: str, *, ecs: bool = True) -> str:
    """How to pass a credential a build needs, and one the service needs at run time."""
    runtime = (secrets_hint(service, name, "<region>", "<account_id>", "<env>") if ecs else
               "read it at run time from SSM Parameter Store or Secrets Manager")
    return (
        "build-arg values stay in the image's history (docker history shows them): pass a "
        "credential the build needs as a BuildKit build secret, "
        f"`RUN --mount=type=secret,id={name.lower()} ...` in the Dockerfile, never as an "
        "ARG. One the service needs at run time: " + runtime
    )


def build_arg_problems(source: Source, root: Path, at: PathKey, service: str) -> list[Problem]:
    """A problem for each build arg at ``at`` of release.yaml that holds a credential."""
    node: Any = source.data
    for part in at:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return []
    services = source.data.get("services") if isinstance(source.data, dict) else None
    raw_service = services.get(service) if isinstance(services, dict) else None
    ecs = not isinstance(raw_service, dict) or "ecs" in raw_service  # the defaults: any kind
    found = []
    for name, raw in node.items():
        value = raw if isinstance(raw, str) else str(raw)
        why = find_secret(str(name), value)
        if why is not None:
            located = problem(source, root, (*at, name), value=value, why=why,
                              hint=build_arg_hint(service, str(name), ecs=ecs))
            if located is not None:
                found.append(located)
    return found
