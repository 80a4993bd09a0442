"""release.planning.dockerignore decides exactly as the Docker SDK, which tars the context."""

from __future__ import annotations

import pytest
from docker.utils.build import PatternMatcher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.planning.dockerignore import Matcher, patterns_of

SAME = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pieces = st.sampled_from(["a", "B", "c.md", "*", "**", "?", "[ab]", "[!a]", "[", "]", ".",
                          "..", "x*", "*.md", "d\\e", "^", "[^a]", " "])
patterns = st.builds(lambda neg, parts: ("!" if neg else "") + "/".join(parts),
                     st.booleans(), st.lists(pieces, min_size=1, max_size=4))
names = st.sampled_from(["a", "b", "A", "c.md", "x1", "d", ".dockerignore", "Dockerfile",
                         "[", "e f"])
paths = st.lists(names, min_size=1, max_size=4).map("/".join)


@SAME
@given(rules=st.lists(patterns, max_size=5), path=paths)
def test_it_excludes_what_the_sdk_excludes(rules: list[str], path: str) -> None:
    assert Matcher(rules).excludes(path) == PatternMatcher(list(rules)).matches(path)


@pytest.mark.parametrize(("rules", "path", "excluded"), [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/README.md", False),        # * stops at /
    (["**/*.md"], "docs/deep/README.md", True),
    (["docs"], "docs/deep/README.md", True),     # a directory takes what is below it
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["*.MD"], "readme.md", True),               # case-insensitive, as the SDK
    (["../x"], "x", True),
    (["*"], ".dockerignore", False),             # the ignore file itself is always sent
])
def test_table(rules: list[str], path: str, excluded: bool) -> None:
    assert Matcher(rules).excludes(path) is excluded
    assert PatternMatcher(list(rules)).matches(path) is excluded


def test_patterns_of_a_file() -> None:
    text = "# comment\n\n  *.md  \r\n!keep.md\n"
    assert patterns_of(text) == ["*.md", "!keep.md"]
