"""Readable image tags (``tags:`` of a service), rendered from templates beside the build key.

Pure: the templates and the values come in, the tags go out. A tag only names an image for
people (``detector:v3-1234``); deploys still pin the digest. A tag that looks like a build
key is refused: the registry holding a build key means "no build needed", so a readable
tag must never be mistaken for one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from release.errors import UsageError

PLACEHOLDERS = ("build_key", "sha", "short_sha", "run_number", "run_attempt", "env")
# Set only in a GitHub Actions run: a template needing one is skipped elsewhere (`render`).
RUN_SCOPED = ("run_number", "run_attempt")
_RUN_VALUE = re.compile(r"[0-9]{1,20}")
SHORT_SHA_CHARS = 7
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
BUILD_KEY_LIKE = re.compile(r"[0-9a-f]{20}")
RESERVED = ("buildcache",)  # the layer-cache ref of the repository
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_WHERE = {
    "run_number": "GITHUB_RUN_NUMBER, set only under GitHub Actions",
    "run_attempt": "GITHUB_RUN_ATTEMPT, set only under GitHub Actions",
    "sha": "the commit being released",
    "short_sha": "the commit being released",
    "env": "the environment being released",
    "build_key": "the image's build key",
}


def known() -> str:
    """The placeholders, as a user writes them."""
    return ", ".join(f"${{{name}}}" for name in PLACEHOLDERS)


def template_problem(template: str) -> tuple[str, str] | None:
    """What is wrong with a tag template, as (message, hint); None when it can render."""
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in PLACEHOLDERS:
            return (f"unknown placeholder {match.group(0)!a} in the tag {template!a}",
                    f"known placeholders: {known()}")
    literal = _PLACEHOLDER.sub("", template)
    if "$" in literal or "{" in literal or "}" in literal:
        return (f"the tag {template!a} has a '$' or brace outside a ${{name}} placeholder",
                f"write placeholders as ${{name}}; known placeholders: {known()}")
    if template == literal and (BUILD_KEY_LIKE.fullmatch(template) or template in RESERVED):
        return (f"the tag {template!a} looks like a build key or the cache ref; the registry "
                "would take it for an image it never built",
                "make it readable (for example v3-${run_number}), or use ${build_key}")
    return None


def tag_values(*, build_key: str, sha: str, env: str, run_number: str | None = None,
               run_attempt: str | None = None) -> dict[str, str | None]:
    """The values ``render_tags`` fills in, ``short_sha`` taken from ``sha``."""
    return {"build_key": build_key, "sha": sha, "short_sha": sha[:SHORT_SHA_CHARS],
            "run_number": run_number, "run_attempt": run_attempt, "env": env}


@dataclass(frozen=True)
class Rendered:
    """The tags to push, and the templates left out (with why) for want of a run value."""

    tags: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def render(templates: Sequence[str], values: Mapping[str, str | None]) -> Rendered:
    """Like ``render_tags``, but a template needing ``${run_number}`` or ``${run_attempt}``
    where there is no run (outside GitHub Actions) is skipped, not an error: the image is
    still pushed under its build key and deployed by digest; the readable tag names a run."""
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    for template in templates:
        missing = [name for name in RUN_SCOPED
                   if f"${{{name}}}" in template and not values.get(name)]
        if missing:
            skipped.append((template, f"${{{missing[0]}}} is {_WHERE[missing[0]]}"))
        else:
            kept.append(template)
    return Rendered(render_tags(kept, values), skipped)


def render_tags(templates: Sequence[str], values: Mapping[str, str | None]) -> list[str]:
    """The tags ``templates`` render to, each once, in order, without the build key itself.

    Raises ``UsageError`` naming the template when a placeholder is unknown or has no value
    (``run_number`` outside GitHub Actions), or when the tag it renders is not a valid
    registry tag (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``) or looks like another build key.
    """
    tags: list[str] = []
    for template in templates:
        why = template_problem(template)
        if why is not None:
            raise UsageError(*why)
        tag = _PLACEHOLDER.sub(_filler(template, values), template)
        if not TAG.fullmatch(tag):
            shown = tag if len(tag) <= 80 else tag[:77] + "..."
            raise UsageError(
                f"the tag template {template!a} renders to {shown!a}, which is not a valid "
                "image tag",
                "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' "
                "or '-': shorten the template or use ${short_sha}")
        if tag != values.get("build_key") and (BUILD_KEY_LIKE.fullmatch(tag)
                                               or tag in RESERVED):
            raise UsageError(
                f"the tag template {template!a} renders to {tag!a}, which looks like a build "
                "key or the cache ref", "add readable text to the template, e.g. v-${sha}")
        if tag != values.get("build_key") and tag not in tags:
            tags.append(tag)
    return tags


def _filler(template: str, values: Mapping[str, str | None]) -> Callable[[re.Match[str]], str]:
    return lambda match: _value(template, match.group(1), values)


def _value(template: str, name: str, values: Mapping[str, str | None]) -> str:
    value = values.get(name)
    if value and name in RUN_SCOPED and not _RUN_VALUE.fullmatch(value):
        raise UsageError(f"the tag template {template!a} needs ${{{name}}}, and "
                         f"{_WHERE[name].split(',')[0]} is not a number",
                         "it comes from the runner: do not set it by hand")
    if not value:
        raise UsageError(
            f"the tag template {template!a} needs ${{{name}}}, which has no value here",
            f"${{{name}}} is {_WHERE.get(name, 'not known')}; remove it from tags: or "
            "release from where it is set")
    return value
