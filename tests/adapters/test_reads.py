"""What a deploy reads before it changes anything, and how many calls that costs.

Scripted ECS and Lambda (``fakecloud``) count every call: the plan of many services must
describe them 10 per DescribeServices call, read each task definition once, and learn
a family's newest revision without ListTaskDefinitions.
"""

from __future__ import annotations

from typing import Any

from fakecloud import FakeClock, FakeEcs, FakeLambda

from release.adapters.aws import ecs, lambda_

BODY = {"family": "web", "containerDefinitions": [{"name": "web", "image": "img@sha256:1"}]}


def _ops(client: FakeEcs | FakeLambda) -> list[str]:
    return [op for op, _ in client.calls]


def test_the_running_revision_is_the_newest_one_read_once() -> None:
    fake = FakeEcs()
    running = fake.add_service("c", "web", dict(BODY), tags={"release:build-key": "k1"})
    found = fake.describe_services("c", ["web"])["services"][0]
    fake.calls.clear()
    state = ecs.describe(fake, "c", "web", family="web", found=found)
    assert state.task_definition_arn == running
    assert state.tags == {"release:build-key": "k1"}
    assert state.latest is not None
    assert state.latest.arn == running
    assert fake.calls == [("describe_task_definition", {"taskDefinition": "web"})]


def test_a_newer_revision_than_the_running_one_is_read_too() -> None:
    fake = FakeEcs()
    running = fake.add_service("c", "web", dict(BODY))
    newer = fake.register_task_definition(**{**BODY, "containerDefinitions": [
        {"name": "web", "image": "img@sha256:2"}]})["taskDefinition"]["taskDefinitionArn"]
    fake.calls.clear()
    state = ecs.describe(fake, "c", "web", family="web")
    assert state.task_definition_arn == running
    assert state.task_definition["containerDefinitions"][0]["image"] == "img@sha256:1"
    assert state.latest is not None
    assert state.latest.arn == newer
    assert _ops(fake) == ["describe_services", "describe_task_definition",
                          "describe_task_definition"]
    assert "list_task_definitions" not in _ops(fake)


def test_a_family_without_revisions_has_no_latest() -> None:
    fake = FakeEcs()
    fake.add_service("c", "web", {**BODY, "family": "made-by-terraform"})
    state = ecs.describe(fake, "c", "web", family="dev-web")
    assert state.latest is None
    assert state.task_definition_arn.endswith("/made-by-terraform:1")


def test_reads_describe_the_announced_services_ten_per_call_per_cluster() -> None:
    fake = FakeEcs()
    wanted = [("a", f"s{i}") for i in range(25)] + [("b", f"t{i}") for i in range(3)]
    for cluster, name in wanted:
        fake.add_service(cluster, name, {**BODY, "family": name})
    fake.add_service("a", "late", {**BODY, "family": "late"})
    reads = ecs.Reads(lambda: fake, wanted)
    for cluster, name in wanted:
        found = reads.service(cluster, name)
        assert found is not None
        assert found["serviceName"] == name
    batches = [kw["services"] for op, kw in fake.calls if op == "describe_services"]
    assert [len(b) for b in batches] == [10, 10, 5, 3]
    assert reads.service("a", "missing") is None  # not announced: read alone
    assert reads.service("a", "late") is not None
    assert [len(kw["services"]) for op, kw in fake.calls
            if op == "describe_services"][4:] == [1, 1]


def test_a_function_and_its_alias_are_read_in_two_calls() -> None:
    lam = FakeLambda("fn", "reg/fn@sha256:new")
    lam.versions["2"] = "reg/fn@sha256:new"
    lam.versions["1"] = "reg/fn@sha256:old"
    state = lambda_.describe(lam, "fn", "live")
    assert (state.alias_version, state.alias_image_uri) == ("1", "reg/fn@sha256:old")
    assert state.image_uri == "reg/fn@sha256:new"
    assert state.idle
    assert _ops(lam) == ["get_function", "get_function"]


def test_a_missing_alias_is_no_error() -> None:
    lam = FakeLambda("fn", "reg/fn@sha256:new")
    lam.aliases.clear()
    state = lambda_.describe(lam, "fn", "live")
    assert state.alias_version is None
    assert state.alias_image_uri is None


class _SettledAtOnce(FakeLambda):
    """Answers UpdateFunctionCode with the update already Successful (as moto does)."""

    def update_function_code(self, FunctionName: str, ImageUri: str) -> dict[str, Any]:  # noqa: N803
        super().update_function_code(FunctionName=FunctionName, ImageUri=ImageUri)
        self.status = "Successful"
        self._progress = []
        return {"LastUpdateStatus": "Successful", "State": "Active"}


def test_an_update_known_to_be_done_is_not_polled() -> None:
    lam, clock = _SettledAtOnce("fn", "reg/fn@sha256:old"), FakeClock()
    update = lambda_.FunctionUpdate("fn", "live", "reg/fn@sha256:new", None, {"k": "v"},
                                    arn="arn:aws:lambda:eu-west-1:1:function:fn", idle=True)
    version = lambda_.deploy_image(lam, update, lambda_.Pace(clock, clock.sleep, lambda: 0.5))
    assert version == "2"
    assert lam.aliases["live"] == "2"
    assert _ops(lam) == ["update_function_code", "publish_version", "update_alias",
                         "tag_resource"]


def test_an_update_in_progress_is_waited_for() -> None:
    lam, clock = FakeLambda("fn", "reg/fn@sha256:old"), FakeClock()
    lam.after_update = ["InProgress", "Successful"]
    update = lambda_.FunctionUpdate("fn", "live", "reg/fn@sha256:new", None, {"k": "v"},
                                    arn="arn:aws:lambda:eu-west-1:1:function:fn", idle=True)
    lambda_.deploy_image(lam, update, lambda_.Pace(clock, clock.sleep, lambda: 0.5))
    assert _ops(lam) == ["update_function_code", "get_function_configuration",
                         "get_function_configuration", "publish_version", "update_alias",
                         "tag_resource"]
    assert clock.sleeps == [2]
