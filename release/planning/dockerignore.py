""".dockerignore rules, as the Docker SDK applies them when it sends a build context. Pure.

The images are built through the Docker SDK (``APIClient.build(path=...)``), which tars
the context minus what ``docker.utils.build.PatternMatcher`` excludes; build keys must
see the same files. Importing that class imports the whole SDK (~0.2 s, requests and
all), which `release plan` would pay in every repository with a ``.dockerignore``, so
its rules are restated here for POSIX paths (docker 7.x): patterns are case-insensitive
shell globs where ``*`` and ``?`` stop at ``/`` and ``**`` spans directories, ``!``
re-includes, the last matching pattern wins, and a pattern also matches everything below
a directory it matches. tests/unit/test_dockerignore.py checks it against the SDK.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


def patterns_of(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file: its lines, without blanks and comments."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _steps(path: str) -> list[str]:
    return [step for step in path.split("/") if step and step != "."]


def _normalize(pattern: str) -> list[str]:
    """Its steps: ``.`` dropped, each ``..`` removing itself and the step before it."""
    steps = _steps(pattern.strip())
    i = 0
    while i < len(steps):
        if steps[i] == "..":
            del steps[i]
            if i > 0:
                del steps[i - 1]
                i -= 1
        else:
            i += 1
    return steps


def _translate(pattern: str) -> str:  # noqa: PLR0912 - one branch per glob construct
    """The regular expression of a glob (the SDK's ``docker.utils.fnmatch.translate``)."""
    i, n = 0, len(pattern)
    out = "^"
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out += ".*" if i >= n else "(.*/)?"
            else:
                out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out += "\\["
            else:
                stuff = pattern[i:j].replace("\\", "\\\\")
                i = j + 1
                if stuff[0] == "!":
                    stuff = "^" + stuff[1:]
                elif stuff[0] == "^":
                    stuff = "\\" + stuff
                out += f"[{stuff}]"
        else:
            out += re.escape(c)
    return out + "$"


@dataclass(frozen=True)
class _Pattern:
    exclusion: bool
    steps: tuple[str, ...]
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        exclusion = text.startswith("!")
        steps = tuple(_normalize(text[1:] if exclusion else text))
        return cls(exclusion, steps, re.compile(_translate("/".join(steps).lower())))

    def match(self, path: str) -> bool:
        return self.regex.match(path.lower()) is not None


class Matcher:
    """Whether a path of the context (relative, ``/``-separated) is left out of it."""

    def __init__(self, patterns: list[str]) -> None:
        parsed = [_Pattern.parse(p) for p in patterns]
        self.patterns = [p for p in parsed if p.steps] + [_Pattern.parse("!.dockerignore")]
        # Services of a monorepo share one .dockerignore and their paths look alike
        # (src/app.py in each): the answers are kept.
        self._answers: dict[str, bool] = {}

    def excludes(self, path: str) -> bool:
        """True when ``path`` is not sent to the build."""
        answer = self._answers.get(path)
        if answer is None:
            answer = self._answers[path] = self._decide(path)
        return answer

    def _decide(self, path: str) -> bool:
        excluded = False
        parent = posixpath.dirname(path)
        parent_steps = _steps(parent)
        for pattern in self.patterns:
            match = pattern.match(path)
            if not match and parent and len(pattern.steps) <= len(parent_steps):
                match = pattern.match("/".join(parent_steps[:len(pattern.steps)]))
            if match:
                excluded = not pattern.exclusion
        return excluded
