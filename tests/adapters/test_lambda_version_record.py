"""What a Lambda alias runs is read with the keys its release recorded on the version (its
Description), the function's tags standing in where they name that version or the version
holds no record; a rollback sets the tags to the restored version's keys; ECS status reads
the running revision. moto in server mode, and the scripted fake to count calls."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from fakecloud import FakeAws, FakeLambda

from release.adapters.aws import deployed, ecs, lambda_
from release.engine.targets import lambda_ as lambda_kind
from release.errors import ReleaseError
from release.planning.recorded import BUILD_KEY_TAG, CONFIG_KEY_TAG, SOURCE_COMMIT_TAG

OLD, NEW = "a" * 40, "b" * 40
KEYS_OLD = {BUILD_KEY_TAG: "1" * 20, SOURCE_COMMIT_TAG: OLD, CONFIG_KEY_TAG: "2" * 20}
KEYS_NEW = {BUILD_KEY_TAG: "3" * 20, SOURCE_COMMIT_TAG: NEW, CONFIG_KEY_TAG: "4" * 20}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker"


def env_of(**functions: str) -> Any:
    """An environment naming one Lambda function (or ECS service) per service."""
    deps = {name: SimpleNamespace(lambda_=SimpleNamespace(function=fn, alias="live"), ecs=None)
            for name, fn in functions.items()}
    return SimpleNamespace(deployments=deps)


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    kw = {"endpoint_url": moto_endpoint, "region_name": "eu-west-1",
          "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    return {name: boto3.client(name, **kw)  # type: ignore[call-overload]
            for name in ("lambda", "iam", "ecs")}


_made: list[int] = [0]


def function(aws: dict[str, Any], *descriptions: str) -> str:
    """A new image function with one published version per description; the alias on the
    last one. Returns its name."""
    _made[0] += 1
    name = f"worker-{_made[0]}"
    role = f"role-{_made[0]}"
    arn = aws["iam"].create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws["lambda"]
    lam.create_function(FunctionName=name, Role=arn, PackageType="Image",
                        Code={"ImageUri": f"{IMAGE}:0"})
    version = None
    for i, text in enumerate(descriptions):
        if i:
            lam.update_function_code(FunctionName=name, ImageUri=f"{IMAGE}:{i}")
        version = lam.publish_version(FunctionName=name, Description=text)["Version"]
    if version is not None:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return name


def arn_of(aws: dict[str, Any], name: str) -> str:
    return str(aws["lambda"].get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def read(aws: dict[str, Any], name: str, notes: list[str] | None = None) -> Any:
    got = deployed.read(env_of(w=name), FakeAws(**aws), ["w"],  # type: ignore[arg-type]
                        (notes if notes is not None else []).append)
    return got["w"]


# --- the record --------------------------------------------------------------------------------

def test_the_record_of_the_longest_keys_fits_a_description_and_reads_back() -> None:
    keys = {BUILD_KEY_TAG: "c" * 64, SOURCE_COMMIT_TAG: "d" * 64, CONFIG_KEY_TAG: "e" * 64}
    text = lambda_.version_description(keys)
    assert len(text) <= lambda_.MAX_DESCRIPTION
    assert deployed.version_record(text, "w") == keys
    assert lambda_.version_description({BUILD_KEY_TAG: "f" * 300}) == ""  # would not fit


def test_a_deploy_publishes_the_record_and_tags_the_version_it_describes() -> None:
    lam = FakeLambda("fn", "reg/fn@sha256:old")
    update = lambda_.FunctionUpdate("fn", "live", "reg/fn@sha256:new", None, KEYS_NEW,
                                    arn="arn:aws:lambda:eu-west-1:1:function:fn", idle=True)
    version = lambda_.deploy_image(lam, update, lambda_.Pace(lambda: 0.0, lambda _s: None))
    assert deployed.version_record(lam.descriptions[version], "fn") == KEYS_NEW
    assert lam.tags == {**KEYS_NEW, lambda_.VERSION_TAG: version}


# --- reading through the alias -----------------------------------------------------------------

def test_the_alias_version_record_wins_over_tags_written_for_another_version(
        aws: dict[str, Any]) -> None:
    name = function(aws, lambda_.version_description(KEYS_OLD),
                    lambda_.version_description(KEYS_NEW))
    aws["lambda"].tag_resource(Resource=arn_of(aws, name),
                               Tags={**KEYS_NEW, lambda_.VERSION_TAG: "2"})
    aws["lambda"].update_alias(FunctionName=name, Name="live", FunctionVersion="1")  # by hand
    state = read(aws, name)
    assert (state.build_key, state.commit, state.config_key) == (
        KEYS_OLD[BUILD_KEY_TAG], OLD, KEYS_OLD[CONFIG_KEY_TAG])
    assert state.deployed_at is not None


def test_tags_written_for_the_alias_version_win_a_release_re_records_there(
        aws: dict[str, Any]) -> None:
    name = function(aws, lambda_.version_description(KEYS_OLD))
    again = {**KEYS_OLD, SOURCE_COMMIT_TAG: NEW, CONFIG_KEY_TAG: "5" * 20}
    aws["lambda"].tag_resource(Resource=arn_of(aws, name),
                               Tags={**again, lambda_.VERSION_TAG: "1"})
    state = read(aws, name)
    assert (state.commit, state.config_key) == (NEW, "5" * 20)


def test_a_version_without_a_record_falls_back_to_the_function_tags(
        aws: dict[str, Any]) -> None:
    name = function(aws, "the worker, published by hand")
    aws["lambda"].tag_resource(Resource=arn_of(aws, name), Tags=KEYS_OLD)
    notes: list[str] = []
    state = read(aws, name, notes)
    assert (state.build_key, state.commit) == (KEYS_OLD[BUILD_KEY_TAG], OLD)
    assert notes == []


def test_tags_of_another_version_and_no_record_is_not_deployed(aws: dict[str, Any]) -> None:
    name = function(aws, "", "")
    aws["lambda"].tag_resource(Resource=arn_of(aws, name),
                               Tags={**KEYS_NEW, lambda_.VERSION_TAG: "1"})
    notes: list[str] = []
    state = read(aws, name, notes)
    assert state.build_key is None
    assert state.missing is None
    assert any("the tags record version 1, the alias runs 2" in n for n in notes)


def test_a_function_without_tags_costs_two_calls_and_one_with_tags_one(
        aws: dict[str, Any]) -> None:
    lam = FakeLambda("fn", "reg/fn@sha256:x")
    lam.descriptions["1"] = lambda_.version_description(KEYS_OLD)
    state = deployed.read(env_of(w="fn"), FakeAws(**{"lambda": lam}), ["w"])["w"]
    assert state is not None
    assert state.commit == OLD
    assert lam.count("get_function") == 1
    name = function(aws, lambda_.version_description(KEYS_OLD))  # moto omits empty Tags
    assert read(aws, name).commit == OLD


def test_a_function_that_does_not_exist_is_missing_in_the_cloud(aws: dict[str, Any]) -> None:
    state = read(aws, "no-such-function")
    assert state.missing == "Lambda function no-such-function"
    assert state.build_key is None


def test_a_function_without_the_alias_is_read_from_its_tags(aws: dict[str, Any]) -> None:
    name = function(aws)
    aws["lambda"].tag_resource(Resource=arn_of(aws, name), Tags=KEYS_OLD)
    state = read(aws, name)
    assert (state.commit, state.missing) == (OLD, None)


# --- hostile descriptions ----------------------------------------------------------------------

HOSTILE = [
    (f"{BUILD_KEY_TAG}={'1' * 20} {SOURCE_COMMIT_TAG}=HEAD~3", "not a commit SHA"),
    (f"{SOURCE_COMMIT_TAG}=::error title=pwned::INJECTED", "not a release record"),
    (f"{SOURCE_COMMIT_TAG}=::error::INJECTED", "not a commit SHA"),
    (f"{SOURCE_COMMIT_TAG}={OLD}\n::warning::INJECTED", "control or invisible"),
    (f"{SOURCE_COMMIT_TAG}={OLD}\x1b[2J", "control or invisible"),
    (f"{SOURCE_COMMIT_TAG}={OLD} ::add-mask::INJECTED", "not a release record"),
    (f"{SOURCE_COMMIT_TAG}={OLD} {SOURCE_COMMIT_TAG}={NEW}", "not a release record"),
    (f"release:source-commit\n::error::INJECTED={OLD}", "not a release record"),
]


@pytest.mark.parametrize(("text", "why"), HOSTILE)
def test_a_hostile_description_is_absent_and_never_repeated(text: str, why: str) -> None:
    notes: list[str] = []
    keys = deployed.version_record(text, "w (Lambda) version 3", notes.append)
    assert SOURCE_COMMIT_TAG not in keys
    assert notes
    assert any(why in n for n in notes)
    for note in notes:
        assert "INJECTED" not in note
        assert "HEAD~3" not in note
        assert "\n" not in note
        assert "\x1b" not in note


def test_a_hostile_description_read_through_the_alias_is_never_printed(
        aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    name = function(aws, f"{SOURCE_COMMIT_TAG}=::error::INJECTED {BUILD_KEY_TAG}={'1' * 20}")
    state = deployed.read(env_of(w=name), FakeAws(**aws), ["w"])["w"]  # type: ignore[arg-type]
    assert state is not None
    assert (state.build_key, state.commit) == ("1" * 20, None)
    err = capsys.readouterr().err
    assert "INJECTED" not in err
    assert "::error" not in err
    assert f"note: w (Lambda) version 1: recorded key {SOURCE_COMMIT_TAG} is not" in err


def test_a_plain_description_is_not_a_record_and_says_nothing() -> None:
    notes: list[str] = []
    assert deployed.version_record("the orders worker", "w", notes.append) == {}
    assert deployed.version_record(None, "w", notes.append) == {}
    assert notes == []


# --- rollback records what it restored ---------------------------------------------------------

def _ctx(aws: dict[str, Any], log: list[str]) -> Any:
    return SimpleNamespace(client=lambda name: aws[name], log=log.append)


def _dep(name: str) -> Any:
    return SimpleNamespace(name="w", lambda_=SimpleNamespace(function=name, alias="live"))


def test_a_rollback_sets_the_tags_to_the_restored_version_keys(aws: dict[str, Any]) -> None:
    name = function(aws, lambda_.version_description(KEYS_OLD),
                    lambda_.version_description(KEYS_NEW))
    aws["lambda"].tag_resource(Resource=arn_of(aws, name),
                               Tags={**KEYS_NEW, lambda_.VERSION_TAG: "2"})
    assert read(aws, name).commit == NEW
    log: list[str] = []
    change = lambda_kind.KIND.rollback(_ctx(aws, log), _dep(name), None)
    assert (change.before, change.after, change.status) == ("version 2", "version 1",
                                                            "rolled-back")
    assert aws["lambda"].list_tags(Resource=arn_of(aws, name))["Tags"] == {
        **KEYS_OLD, lambda_.VERSION_TAG: "1"}
    assert read(aws, name).commit == OLD


def test_a_rollback_to_a_version_without_a_record_removes_the_keys(
        aws: dict[str, Any]) -> None:
    name = function(aws, "published by hand", lambda_.version_description(KEYS_NEW))
    aws["lambda"].tag_resource(Resource=arn_of(aws, name),
                               Tags={**KEYS_NEW, lambda_.VERSION_TAG: "2", "team": "x"})
    log: list[str] = []
    lambda_kind.KIND.rollback(_ctx(aws, log), _dep(name), None)
    assert aws["lambda"].list_tags(Resource=arn_of(aws, name))["Tags"] == {
        "team": "x", lambda_.VERSION_TAG: "1"}
    assert any("holds no record" in line for line in log)
    assert read(aws, name).build_key is None


# --- ECS: status reads the revision the service runs -------------------------------------------

def _revision(client: Any, family: str, keys: dict[str, str]) -> str:
    return str(client.register_task_definition(
        family=family, containerDefinitions=[{"name": "web", "image": "web:1", "memory": 64}],
        tags=[{"key": k, "value": v} for k, v in keys.items()])["taskDefinition"][
        "taskDefinitionArn"])


def test_ecs_status_is_truthful_after_a_rollback_and_a_missing_service_is_said(
        aws: dict[str, Any]) -> None:
    client = aws["ecs"]
    client.create_cluster(clusterName="c1")
    old = _revision(client, "web-rb", KEYS_OLD)
    new = _revision(client, "web-rb", KEYS_NEW)
    client.create_service(cluster="c1", serviceName="web", taskDefinition=new, desiredCount=0)
    env = SimpleNamespace(deployments={
        "web": SimpleNamespace(ecs=SimpleNamespace(cluster="c1", service="web"), lambda_=None),
        "gone": SimpleNamespace(ecs=SimpleNamespace(cluster="c1", service="gone"), lambda_=None)})
    assert deployed.read(env, FakeAws(**aws), ["web"])["web"].commit == NEW  # type: ignore[arg-type, union-attr]
    client.update_service(cluster="c1", service="web", taskDefinition=old)  # what rollback does
    got = deployed.read(env, FakeAws(**aws), ["web", "gone"])  # type: ignore[arg-type]
    assert got["web"] is not None
    assert (got["web"].commit, got["web"].build_key) == (OLD, KEYS_OLD[BUILD_KEY_TAG])
    assert got["gone"] is not None
    assert got["gone"].missing == "ECS service gone in cluster c1"


# --- the errors say how to create what is missing ---------------------------------------------

def test_missing_targets_say_how_to_create_them_locally() -> None:
    assert "release local seed" in (ecs.missing("c", "s").hint or "")
    lam = FakeLambda("fn", "img")
    from fakecloud import client_error

    def gone(**_kw: Any) -> Any:
        raise client_error("ResourceNotFoundException", "GetFunction")

    lam.get_function = gone  # type: ignore[method-assign]
    with pytest.raises(ReleaseError) as caught:
        lambda_.describe(lam, "fn", "live")
    assert "release local seed" in (caught.value.hint or "")
    assert "environments/local.yaml" in (caught.value.hint or "")
    assert json.dumps(caught.value.hint)  # one line of text
