"""Service and environment names given on the command line, checked before anything runs.

A manual run (``workflow_dispatch``) passes what someone typed straight to ``release``; a
name like ``x; curl evil`` or ``$(id)`` must stop here, with the rule it broke, and never
reach git, docker, a log line or a cloud API. The patterns are the ones the JSON Schemas
enforce for the names in the config files.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from release.errors import UsageError


@dataclass(frozen=True)
class Rule:
    """What a kind of name may look like."""

    noun: str  # what the value should have been: "a service name"
    pattern: re.Pattern[str]
    says: str  # the pattern in words, a whole sentence


SERVICE = Rule("a service name", re.compile(r"[a-z][a-z0-9-]{0,62}"),
               "service names are lowercase letters, digits and dashes, starting with a "
               "letter, at most 63 characters")
ENVIRONMENT = Rule("an environment name", re.compile(r"[a-z][a-z0-9-]{0,30}"),
                   "environment names are lowercase letters, digits and dashes, starting "
                   "with a letter, at most 31 characters")
# --since REF reaches git's command line: nothing that git could read as an option.
GIT_REF = Rule("a commit", re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/@{}~^-]{0,254}"),
               "--since takes a commit SHA, branch or tag: letters, digits and ._/@{}~^-, "
               "not starting with '-'")


def shown(name: str) -> str:
    """``name`` safe to print: quoted, escaped (no newline to forge a workflow command),
    and cut short."""
    text = ascii(name[:80])
    return text if len(name) <= 80 else text[:-1] + "...'"


# Line breaks, other control characters and invisible ones (zero-width, bidi): shown as
# escapes, so a value from config or the cloud stays on its line and shows what it holds.
# A tab is left alone: it neither ends a line nor hides anything.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f"
                          "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def printable(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``,
    ``\\x1b``, ``\\u200b``): one line of a log, whatever a value holds. Not quoted, not cut."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def suggestion(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (case, underscores and spaces forgiven)."""
    options = list(known)
    plain = re.sub(r"[\s_]+", "-", name.strip().lower())
    if plain in options:
        return plain
    close = difflib.get_close_matches(plain, options, n=1)
    return close[0] if close else None


def check(rule: Rule, name: str, known: Sequence[str] = ()) -> str:
    """``name`` when it follows ``rule``; else a UsageError naming the rule (and a close
    known name, when there is one)."""
    if rule.pattern.fullmatch(name):
        return name
    hint = f"{rule.says} (^{rule.pattern.pattern}$)"
    if "," in name and all(rule.pattern.fullmatch(p.strip()) for p in name.split(",")):
        hint += "; give several names as separate arguments, not one comma-separated word"
    close = suggestion(name, known)
    if close is not None:
        hint = f"did you mean '{close}'? {hint}"
    elif known:
        hint += f"; known: {', '.join(sorted(known)[:20])}"
    raise UsageError(f"{shown(name)} is not {rule.noun}", hint)


def known_services(root: Path) -> list[str]:
    """Service names in ``root``'s release.yaml, best effort (only to suggest a name)."""
    import yaml  # here: `release --version` stays fast

    from release import repo_files

    try:
        raw = repo_files.read_bounded(root, "release.yaml", 1 << 20)  # never outside, bounded
        data = yaml.safe_load(raw.decode("utf-8"))
        return [str(n) for n in data.get("services", {})]
    except (OSError, ValueError, AttributeError, yaml.YAMLError, repo_files.PathRefused):
        return []


def known_environments(root: Path) -> list[str]:
    """Environment names in ``root``'s environments/ directory."""
    folder = root / "environments"
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def check_arguments(args: argparse.Namespace) -> None:
    """Check every environment and service name a command line carries (``--env``,
    ``--services``, ``SERVICE...``) and ``--since``; raise UsageError at the first bad one."""
    root = getattr(args, "root", None) or Path()
    envs = getattr(args, "env", None)
    for name in [envs] if isinstance(envs, str) else list(envs or ()):
        if not ENVIRONMENT.pattern.fullmatch(name):
            check(ENVIRONMENT, name, known_environments(root))
    single = getattr(args, "service", None)
    many = getattr(args, "services", None)
    names = [single] if isinstance(single, str) else []
    names += [many] if isinstance(many, str) else list(many or ())
    for name in names:
        if not SERVICE.pattern.fullmatch(name):
            check(SERVICE, name, known_services(root))
    since = getattr(args, "since", None)
    if isinstance(since, str):
        check(GIT_REF, since)
