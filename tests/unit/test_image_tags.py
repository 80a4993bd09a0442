"""release.planning.image_tags: readable tags rendered from templates, each a valid tag."""

from __future__ import annotations

import pytest

from release.errors import UsageError
from release.planning.image_tags import (
    known,
    render,
    render_tags,
    tag_values,
    template_problem,
)

KEY = "0123456789abcdef0123"
SHA = "4f2a9c1e7b3d5a6f8e0c2b4d6f8a0c2e4b6d8f0a"
VALUES = tag_values(build_key=KEY, sha=SHA, env="prod", run_number="1234")


def test_values_take_short_sha_from_sha() -> None:
    assert VALUES == {"build_key": KEY, "sha": SHA, "short_sha": "4f2a9c1", "run_number": "1234",
                      "run_attempt": None, "env": "prod"}


@pytest.mark.parametrize(("templates", "expected"), [
    (["camera-trap-detection-batch-v3-${run_number}"],
     ["camera-trap-detection-batch-v3-1234"]),
    (["${env}-${short_sha}", "sha-${sha}"], ["prod-4f2a9c1", f"sha-{SHA}"]),
    (["latest", "v1.2.3"], ["latest", "v1.2.3"]),
    (["${env}", "${env}"], ["prod"]),  # each tag once
    (["${build_key}", "b-${build_key}"], [f"b-{KEY}"]),  # the build-key tag is pushed anyway
    ([], []),
], ids=["run-number", "env-short-sha", "literal", "duplicate", "build-key", "none"])
def test_render(templates: list[str], expected: list[str]) -> None:
    assert render_tags(templates, VALUES) == expected


def test_run_number_outside_actions_says_where_it_comes_from() -> None:
    values = tag_values(build_key=KEY, sha=SHA, env="prod")
    with pytest.raises(UsageError) as caught:
        render_tags(["v3-${run_number}"], values)
    assert "'v3-${run_number}' needs ${run_number}, which has no value here" in str(caught.value)
    assert "GITHUB_RUN_NUMBER" in (caught.value.hint or "")


@pytest.mark.parametrize(("template", "values", "message"), [
    ("v-${branch}", VALUES, "unknown placeholder '${branch}'"),
    ("v-${}", VALUES, "unknown placeholder '${}'"),
    ("v-$sha", VALUES, "outside a ${name} placeholder"),
    ("v-{sha}", VALUES, "outside a ${name} placeholder"),
    ("a" * 120 + "-${sha}", VALUES, "which is not a valid image tag"),
    (".hidden-${env}", VALUES, "which is not a valid image tag"),
    ("${env}", {**VALUES, "env": "-rf"}, "which is not a valid image tag"),
    ("${env}", {**VALUES, "env": "a b\n::error::x"}, "which is not a valid image tag"),
    ("${run_number}", {**VALUES, "run_number": "12345678901234567890"},
     "looks like a build key"),
    ("${short_sha}abcdef0123456", VALUES, "looks like a build key"),
    ("${env}", {**VALUES, "env": "buildcache"}, "looks like a build key or the cache ref"),
    ("0123456789abcdef0000", VALUES, "looks like a build key"),
], ids=["unknown", "empty-name", "shell-style", "no-dollar", "too-long", "leading-dot",
        "leading-dash-value", "control-value", "digits-like-a-key", "hex-like-a-key",
        "cache-ref", "literal-key"])
def test_invalid_tags_are_refused_with_a_hint(template: str, values: dict[str, str | None],
                                              message: str) -> None:
    with pytest.raises(UsageError) as caught:
        render_tags([template], values)
    assert message in caught.value.message
    assert caught.value.hint
    assert "\n" not in caught.value.message


def test_the_longest_valid_tag() -> None:
    assert render_tags(["a" * 128], VALUES) == ["a" * 128]
    with pytest.raises(UsageError):
        render_tags(["a" * 129], VALUES)


@pytest.mark.parametrize(("template", "problem"), [
    ("v3-${run_number}", None),
    ("${env}-${short_sha}-${sha}-${build_key}", None),
    ("v-${branch}", "unknown placeholder"),
    ("${ env }", "unknown placeholder"),
    ("v-$env", "outside a ${name} placeholder"),
    ("v-${env", "outside a ${name} placeholder"),
    ("0123456789abcdef0000", "looks like a build key"),
    ("buildcache", "looks like a build key or the cache ref"),
    ("deadbeefdeadbeefdead-${env}", None),  # with a placeholder: checked once rendered
])
def test_template_problem(template: str, problem: str | None) -> None:
    found = template_problem(template)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found[0]
        assert found[1]


def test_known_lists_every_placeholder() -> None:
    assert known() == ("${build_key}, ${sha}, ${short_sha}, ${run_number}, ${run_attempt}, "
                       "${env}")


def test_outside_a_run_the_run_tags_are_skipped_with_the_reason() -> None:
    values = tag_values(build_key=KEY, sha=SHA, env="prod")
    got = render(["v3-${run_number}", "${env}-${short_sha}", "a${run_attempt}"], values)
    assert got.tags == ["prod-4f2a9c1"]
    assert got.skipped == [
        ("v3-${run_number}", "${run_number} is GITHUB_RUN_NUMBER, set only under GitHub Actions"),
        ("a${run_attempt}", "${run_attempt} is GITHUB_RUN_ATTEMPT, set only under GitHub Actions")]


def test_in_a_run_the_run_tags_are_rendered() -> None:
    values = tag_values(build_key=KEY, sha=SHA, env="prod", run_number="41", run_attempt="2")
    assert render(["v3-${run_number}", "v3-${run_number}.${run_attempt}"], values).tags == [
        "v3-41", "v3-41.2"]


@pytest.mark.parametrize("value", ["4x", "-1", "1 2", "1\n::error::x", "\u0661"])
def test_a_run_value_that_is_not_a_number_is_refused(value: str) -> None:
    values = tag_values(build_key=KEY, sha=SHA, env="prod", run_number=value)
    with pytest.raises(UsageError, match="GITHUB_RUN_NUMBER is not a number"):
        render(["v3-${run_number}"], values)


def test_an_unknown_placeholder_is_still_an_error_outside_a_run() -> None:
    with pytest.raises(UsageError, match="unknown placeholder"):
        render(["v3-${build_number}"], tag_values(build_key=KEY, sha=SHA, env="prod"))
