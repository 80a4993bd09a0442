"""Names typed into a manual run are checked before anything runs: a table of cases."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from release import names
from release.cli import main
from release.errors import UsageError

KNOWN = ("autovision", "coral-frontend", "coral-reframing", "predictions-api")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["a", "autovision", "coral-reframing", "x1", "a" * 63])
def test_valid_service_names_pass(name: str) -> None:
    assert names.check(names.SERVICE, name, KNOWN) == name


@pytest.mark.parametrize(("name", "shown", "close"), [
    ("x; curl evil", "'x; curl evil'", None),
    ("$(id)", "'$(id)'", None),
    ("`id`", "'`id`'", None),
    ("a && rm -rf /", "'a && rm -rf /'", None),
    ("auto\n::set-env name=X::y", r"'auto\n::set-env name=X::y'", None),
    ("-rf", "'-rf'", None),
    ("--help", "'--help'", None),
    ("../etc/passwd", "'../etc/passwd'", None),
    ("", "''", None),
    ("Autovision", "'Autovision'", "autovision"),
    ("coral_frontend", "'coral_frontend'", "coral-frontend"),
    ("predictions-api ", "'predictions-api '", "predictions-api"),
    ("coral-refraing;", "'coral-refraing;'", "coral-reframing"),
    ("1service", "'1service'", None),
    ("a" * 64, None, None),
    ("autovisión", r"'autovisi\xf3n'", "autovision"),
])
def test_bad_service_names_name_the_rule_and_a_close_name(
        name: str, shown: str | None, close: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        names.check(names.SERVICE, name, KNOWN)
    error = caught.value
    assert error.exit_code == 2
    assert error.message.endswith("is not a service name")
    if shown is not None:
        assert error.message.startswith(shown)
    assert "\n" not in error.message  # no newline to forge a workflow command with
    assert "^[a-z][a-z0-9-]{0,62}$" in (error.hint or "")
    if close:
        assert (error.hint or "").startswith(f"did you mean '{close}'?")
    else:
        assert "did you mean" not in (error.hint or "")
        assert "known: autovision, coral-frontend" in (error.hint or "")


@pytest.mark.parametrize(("name", "valid"), [
    ("dev", True), ("prod", True), ("quetzal-model-b", True), ("a" * 31, True),
    ("a" * 32, False), ("Dev", False), ("dev;id", False), ("../prod", False), ("", False),
    ("prod\n", False),
])
def test_environment_names(name: str, valid: bool) -> None:
    if valid:
        assert names.check(names.ENVIRONMENT, name) == name
        return
    with pytest.raises(UsageError, match="is not an environment name") as caught:
        names.check(names.ENVIRONMENT, name, ("dev", "prod"))
    assert "^[a-z][a-z0-9-]{0,30}$" in (caught.value.hint or "")


def test_a_comma_separated_word_says_to_separate_the_names() -> None:
    with pytest.raises(UsageError) as caught:
        names.check(names.SERVICE, "autovision,coral-frontend", KNOWN)
    assert "separate arguments" in (caught.value.hint or "")


def test_long_names_are_cut_short_when_shown() -> None:
    assert names.shown("x" * 500) == "'" + "x" * 80 + "...'"


@pytest.mark.parametrize(("attrs", "bad"), [
    ({"env": "dev", "services": ("autovision",)}, None),
    ({"env": "dev;id", "services": ()}, "'dev;id'"),
    ({"env": ["dev", "$(id)"]}, "'$(id)'"),
    ({"env": "dev", "services": ("autovision", "x; curl evil")}, "'x; curl evil'"),
    ({"env": "dev", "service": "$(id)"}, "'$(id)'"),
    ({"env": "dev", "service": None, "services": None}, None),
    ({"cloud": "aws"}, None),
])
def test_check_arguments_covers_env_services_and_service(
        attrs: dict[str, object], bad: str | None) -> None:
    args = argparse.Namespace(root=REPO, **attrs)
    if bad is None:
        names.check_arguments(args)
        return
    with pytest.raises(UsageError) as caught:
        names.check_arguments(args)
    assert caught.value.message.startswith(bad)


def test_suggestions_come_from_the_repository() -> None:
    assert "coral-reframing" in names.known_services(REPO)
    assert names.known_environments(REPO) == ["dev", "local", "prod", "quetzal-model-b"]
    assert names.known_services(REPO / "nowhere") == []
    assert names.known_environments(REPO / "nowhere") == []


@pytest.mark.parametrize("argv", [
    ["deploy", "--env", "local", "x; curl evil"],
    ["build", "--env", "local", "$(id)"],
    ["redeploy", "--env", "local", "autovision", "a`id`"],
    ["rollback", "--env", "local", "x;id"],
    ["render", "--env", "local", "x y"],
    ["plan", "--env", "local", "--services", "autovision,$(id)"],
    ["deploy", "--env", "local;id", "autovision"],
    ["status", "--env", "dev", "--env", "$(id)"],
])
def test_every_command_refuses_a_bad_name_before_it_runs(
        argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A root with no release.yaml: had the command run, it would fail differently.
    code = main([*argv, "--root", str(tmp_path)], environ={"GITHUB_ACTIONS": "true"})
    _, err = capsys.readouterr()
    assert code == 2
    assert "is not a" in err
    assert "name" in err
    assert "release.yaml" not in err
    assert "Traceback" not in err
    assert "::error title=release::" in err  # an annotation on the run's page


@pytest.mark.parametrize(("since", "valid"), [
    ("a" * 40, True), ("main", True), ("v1.2.3", True), ("HEAD~3", True),
    ("origin/main", True), ("HEAD@{1}", True),
    ("--output=/tmp/x", False), ("-p", False), ("main; id", False), ("$(id)", False),
    ("", False), ("a b", False),
])
def test_since_never_reaches_git_as_an_option(since: str, valid: bool) -> None:
    args = argparse.Namespace(root=REPO, env="dev", since=since)
    if valid:
        names.check_arguments(args)
        return
    with pytest.raises(UsageError, match="is not a commit") as caught:
        names.check_arguments(args)
    assert "not starting with '-'" in (caught.value.hint or "")
