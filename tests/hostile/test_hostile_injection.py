"""Hostile input that tries to reach the log as a workflow command, or to break a reader.

Under GitHub Actions the runner runs any line of a step's output that starts with ``::``
(or holds ``##[``). A value from a config, a recorded deployed state, a command-line word
or a cloud tag must never become one; and a ``--deployed`` file of the wrong shape is bad
input (exit 2, the file named, the shape it should have), never an internal error.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness import (
    Case,
    Outcome,
    build,
    check,
    check_no_injected_commands,
    ids,
    run,
    workflow_commands,
)

from release.commands import status

GITHUB = {"GITHUB_ACTIONS": "true"}
PLAN = ("plan", "--env", "dev", "--deployed", "{repo}/deployed.json")
SHAPE = "the file holds a JSON object"  # the hint's second line names the expected shape


def deployed(data: object) -> dict[str, str]:
    """A --deployed file holding ``data``."""
    return {"deployed.json": json.dumps(data)}


def bad_state(name: str, message: str, content: str | bytes | None = None,
              **kwargs: Any) -> Case:
    """A `release plan --deployed FILE` case that must be refused (exit 2)."""
    write = {"deployed.json": content} if content is not None else {}
    return Case(name, message, write=kwargs.pop("write", write), argv=PLAN,
                environ=GITHUB, **kwargs)


DEPLOYED_SHAPES = [
    bad_state("deployed-is-a-list", "the file holds a list, not an object", "[]"),
    bad_state("deployed-is-a-number", "the file holds a number, not an object", "42"),
    bad_state("deployed-is-text", "the file holds text, not an object", '"web"'),
    bad_state("deployed-is-null", "the file holds null, not an object", "null"),
    bad_state("deployed-services-is-a-list", "the services are a list",
              write=deployed({"services": ["web"]})),
    bad_state("deployed-row-is-a-number", "service 'web' holds a number",
              write=deployed({"services": {"web": 5}})),
    bad_state("deployed-row-without-build-key", "service 'web' has no build_key",
              write=deployed({"services": {"web": {"commit": "abc"}}})),
    bad_state("deployed-build-key-is-a-number", "build_key holds a number",
              write=deployed({"services": {"web": {"build_key": 7}}})),
    bad_state("deployed-at-is-text", "deployed_at holds text",
              write=deployed({"services": {"web": {"build_key": "k", "deployed_at": "now"}}})),
    bad_state("deployed-at-is-infinite", "deployed_at holds a number",
              '{"services": {"web": {"build_key": "k", "deployed_at": 1e999}}}'),
    bad_state("deployed-number-too-long", "the file is not JSON",
              '{"services": {"web": {"build_key": "k", "deployed_at": 1' + "0" * 5000 + "}}}"),
    bad_state("deployed-not-json", "the file is not JSON", "services: {web: null}\n"),
    bad_state("deployed-empty", "the file is not JSON", ""),
    bad_state("deployed-not-utf8", "the file is not UTF-8 text", b'{"services": {"\xff": 1}}'),
    bad_state("deployed-nests-too-deeply", "nests too deeply", "[" * 100_000),
    bad_state("deployed-is-a-directory", "the file is a directory",
              write={"deployed.json/x": "{}"}),
    bad_state("deployed-is-a-fifo", "the file is a named pipe (FIFO)", fifos=("deployed.json",)),
    bad_state("deployed-is-missing", "the file cannot be read"),
    bad_state("deployed-too-large", "the file is larger than 16 MiB",
              b"{" + b" " * (16 * 1024 * 1024) + b"}"),
    bad_state("deployed-is-plan-output", "the output of `release plan`",
              write=deployed({"version": 1, "kind": "plan", "data": {"services": []}})),
    bad_state("deployed-of-another-environment", "no deployed state for dev",
              write=deployed({"version": 1, "kind": "status", "data": {
                  "environments": {"prod": {"services": {}}}, "errors": {}}})),
    bad_state("deployed-records-a-failed-read", "records that dev could not be read",
              write=deployed({"version": 1, "kind": "status", "data": {
                  "environments": {}, "errors": {"dev": "no AWS credentials"}}})),
    bad_state("deployed-build-key-forges-a-command", "build_key holds a line break",
              write=deployed({"services": {"web": {
                  "build_key": "k\n::warning file=x::INJECTED"}}})),
    bad_state("deployed-commit-forges-a-legacy-command", "commit holds a line break",
              write=deployed({"services": {"web": {
                  "build_key": "k", "commit": "abc\r##[error]INJECTED"}}})),
    bad_state("deployed-service-name-forges-a-command", "is not a service name",
              write=deployed({"services": {"web\n::error::INJECTED": None}})),
    bad_state("deployed-build-key-too-long", "more than 200",
              write=deployed({"services": {"web": {"build_key": "a" * 5000}}})),
]


def _with_paths(case: Case, tmp: Path) -> Case:
    return dataclasses.replace(case, argv=tuple(a.replace("{repo}", str(tmp / "repo"))
                                                for a in case.argv))


@pytest.mark.parametrize("case", DEPLOYED_SHAPES, ids=ids(DEPLOYED_SHAPES))
def test_a_deployed_state_of_the_wrong_shape_is_bad_input(
        case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(_with_paths(case, tmp_path), tmp_path, capsys)
    check(case, outcome, root)
    assert "--deployed " in outcome.err, outcome.err
    assert "deployed.json" in outcome.err, outcome.err
    assert SHAPE in outcome.err, f"{case.name}: the hint names no shape:\n{outcome.err}"
    check_no_injected_commands(case, outcome)
    assert "::error title=release::--deployed " in outcome.err  # the annotation, ours


def test_a_recorded_state_of_the_right_shape_still_plans(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case("deployed-right-shape", "", argv=(*PLAN, "--output", "json"), exit=0,
                write=deployed({"version": 1, "kind": "status", "data": {
                    "environments": {"dev": {"services": {
                        "web": {"build_key": "0123456789abcdef0123", "commit": "abc",
                                "deployed_at": 1700000000, "config_key": None,
                                "current": False},
                        "worker": None}}},
                    "errors": {}}}))
    outcome, root = run(_with_paths(case, tmp_path), tmp_path, capsys)
    check(case, outcome, root)
    planned = {e["service"]: e["reason"] for e in json.loads(outcome.out)["data"]["services"]}
    assert planned == {"web": "deployed differs", "worker": "not deployed",
                       "batch": "not deployed"}


# --- values that try to start a workflow command ---------------------------------------------

def forged(name: str, argv: tuple[str, ...] = ("validate",), **kwargs: Any) -> Case:
    """A case whose hostile value carries a workflow command; refused or not, it must not
    reach the log as one."""
    return Case(name, "", argv=argv, environ=GITHUB, **kwargs)


RENDER = ("render", "--env", "dev", "web")
FORGED = [
    forged("cluster-newline-warning",
           set={"environments/dev.yaml": {"ecs.cluster": "dev\n::warning file=x::INJECTED"}}),
    forged("cluster-carriage-return-error",
           set={"environments/dev.yaml": {"ecs.cluster": "dev\r::error::INJECTED"}}),
    forged("cluster-legacy-command", set={"environments/dev.yaml": {
        "ecs.cluster": "dev ##[error]INJECTED"}}),
    forged("cluster-stop-commands", set={"environments/dev.yaml": {
        "ecs.cluster": "dev\n  ::stop-commands::INJECTED"}}),
    forged("service-key-forges-a-command", write={"release.yaml": (
        "version: 1\nservices:\n  \"web\\n::error::INJECTED\":\n    context: services/web\n"
        "    ecs:\n      task_definition: services/web/task.json\n")}),
    forged("service-key-forges-a-legacy-command", write={"release.yaml": (
        "version: 1\nservices:\n  \"web ##[warning]INJECTED\":\n    context: services/web\n"
        "    ecs:\n      task_definition: services/web/task.json\n")}),
    forged("environment-variable-forges-a-command", argv=RENDER, set={
        "environments/dev.yaml": {"services.web.ecs.environment.LOG_LEVEL":
                                  "info\n::add-mask::INJECTED"}}),
    forged("container-name-forges-a-command", argv=RENDER, set={
        "services/web/task.json": {"containerDefinitions[0].name": "web\n::error::INJECTED"}}),
    forged("template-key-forges-a-command", argv=RENDER, set={
        "services/web/task.json": {"containerDefinitions[0].dockerLabels": {
            "a\n::warning::INJECTED": "b"}}}),
    forged("yaml-error-holds-a-command", write={
        "release.yaml": "version: 1\nservices:\n  web: [\n::warning file=x::INJECTED\n"}),
    forged("unknown-argument-forges-a-command", argv=("validate", "\n::error::INJECTED")),
    forged("env-argument-forges-a-command", argv=("render", "--env", "dev\n::error::INJECTED",
                                                  "web")),
    forged("zero-width-before-a-command", set={"environments/dev.yaml": {
        "ecs.cluster": "dev\n\u200b::error::INJECTED"}}),
]


@pytest.mark.parametrize("case", FORGED, ids=ids(FORGED))
def test_no_value_starts_a_workflow_command(
        case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome, _ = run(case, tmp_path, capsys)
    both = outcome.out + outcome.err
    assert outcome.code in {0, 2}, f"{case.name}: exit {outcome.code}\n{both}"
    assert "Traceback" not in both, both
    assert "internal error" not in both, both
    check_no_injected_commands(case, outcome)


# --- release status: reading nothing is a failure -------------------------------------------

@pytest.fixture
def no_aws_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere botocore looks (and no instance metadata to ask)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    none = tmp_path / "repo" / ".no-aws"  # inside the repository: the harness allows it
    monkeypatch.setenv("AWS_CONFIG_FILE", str(none / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(none / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


STATUS = [
    Case("status-without-credentials", "status read nothing: dev:",
         argv=("status", "--env", "dev"), environ={}, exit=1),
    Case("status-without-credentials-all-environments", "no AWS credentials",
         argv=("status",), environ={}, exit=1),
    Case("status-without-credentials-under-github", "status read nothing",
         argv=("status", "--env", "dev", "--output", "json"), environ=GITHUB, exit=1),
]


@pytest.mark.parametrize("case", STATUS, ids=ids(STATUS))
@pytest.mark.usefixtures("no_aws_credentials")
def test_status_that_read_nothing_fails(
        case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    assert outcome.out == "", "nothing read, nothing to print as a result"
    assert "release auth aws" in outcome.err  # the hint says how to get credentials
    check_no_injected_commands(case, outcome)
    if case.environ:
        assert "::error title=release::status read nothing" in outcome.err


class _Unreadable:
    """An AwsClients whose every call fails as without credentials."""

    def __init__(self, _account: object) -> None:
        pass

    def client(self, _name: str) -> Any:
        from release.errors import ReleaseError

        def fail(**_kwargs: object) -> Any:
            raise ReleaseError("describe ECS services in dev: no AWS credentials", "log in")

        return SimpleNamespace(describe_services=fail, get_function=fail)

    def close(self) -> None:
        pass


def test_status_that_read_one_environment_of_two_exits_1_with_what_it_read(
        tmp_path: Path) -> None:
    case = Case("two-environments", "", write={"environments/prod.yaml": (
        "name: prod\naws:\n  region: eu-west-1\n  account_id: \"123456789012\"\n"
        "  role_arn: arn:aws:iam::123456789012:role/release-prod\nregistry:\n  type: ecr\n"
        "ecs:\n  cluster: prod\nservices: {}\n")}, argv=("status",))
    root, _ = build(case, tmp_path)
    read = SimpleNamespace(client=lambda _n: None, close=lambda: None)

    def factory(account: Any) -> Any:
        return read if account.role_arn.endswith("release-prod") else _Unreadable(account)

    result = status.run(status.Options(root), aws_factory=factory, clock=lambda: 0.0)
    assert result.exit_code == 1
    assert set(result.cells) == {"prod"}
    assert "no AWS credentials" in result.errors["dev"]
    assert "dev: not read: " in result.to_text()
    assert "\nhint: check the credentials" in result.to_text()


def test_a_malformed_tag_read_from_the_cloud_is_shown_as_absent_in_status(
        tmp_path: Path) -> None:
    case = Case("tagged", "", argv=("status",))
    root, _ = build(case, tmp_path)
    tags = [{"key": "release:build-key", "value": "0123456789abcdef0123"},
            {"key": "release:source-commit", "value": "abc\n::error::INJECTED"}]
    ecs = SimpleNamespace(
        describe_services=lambda **_k: {"services": [
            {"serviceName": "web", "status": "ACTIVE", "deployments": [],
             "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"}]},
        describe_task_definition=lambda **_k: {"taskDefinition": {}, "tags": tags})
    lam = SimpleNamespace(get_function=lambda **_k: {
        "Configuration": {}, "Tags": {"release:build-key": "##[error]INJECTED"}})
    aws = SimpleNamespace(client=lambda name: ecs if name == "ecs" else lam, close=lambda: None)

    result = status.run(status.Options(root), aws_factory=lambda _a: aws, clock=lambda: 0.0)
    web = result.cells["dev"]["web"].deployed
    assert web is not None
    assert web.commit is None
    assert web.build_key == "0123456789abcdef0123"
    worker = result.cells["dev"]["worker"].deployed
    assert worker is not None
    assert worker.build_key is None
    text = result.to_text() + result.to_json()
    assert "INJECTED" not in text
    assert not workflow_commands(text)
    assert any("web (ECS): tag release:source-commit is not a commit SHA" in n
               for n in result.notes), result.notes
    assert any("worker (Lambda): tag release:build-key" in n for n in result.notes)


def test_the_harness_sees_a_forged_command() -> None:
    """The check above can fail: a forged line is found, ours are not."""
    outcome = Outcome(2, "", "ERROR x\n  ::warning file=a::INJECTED\n::error title=release::x\n"
                      "a ##[error]b\n\u200b::error::c\r::add-mask::y\n", [], [])
    assert workflow_commands(outcome.err) == [
        "  ::warning file=a::INJECTED", "::error title=release::x", "a ##[error]b",
        "\u200b::error::c", "::add-mask::y"]
    with pytest.raises(AssertionError, match="would run workflow commands"):
        check_no_injected_commands(Case("forged", ""), outcome)
