"""ECS rollouts against a scripted ECS (moto cannot fail a rollout or roll one back).

Each test asserts what the caller is told (exception kind, message, hint) and what the
service runs afterwards: the new revision, or the previous one, never something between.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fakecloud import (
    Behaviour,
    FakeClock,
    FakeEc2,
    FakeEcs,
    FakeElb,
    Scripted,
    client_error,
)

from release.adapters.aws import ecs_address
from release.adapters.aws.ecs_rollout import Before, Rollouts, Target
from release.adapters.aws.ecs_watch import Pace, RolloutFailedError, RolloutWatcher
from release.errors import ReleaseError

BODY = {"family": "dev-web", "containerDefinitions": [{"name": "web", "image": "img@sha256:1"}]}
NEW = {**BODY, "containerDefinitions": [{"name": "web", "image": "img@sha256:2"}]}


def _setup(*, circuit_breaker: bool = False) -> tuple[FakeEcs, FakeClock, Rollouts, str, str]:
    ecs = FakeEcs(circuit_breaker=circuit_breaker)
    before = ecs.add_service("c", "web", dict(BODY))
    ours = ecs.register_task_definition(**dict(NEW))["taskDefinition"]["taskDefinitionArn"]
    ecs.calls.clear()
    clock = FakeClock()
    return ecs, clock, Rollouts(ecs, RolloutWatcher(lambda: ecs, Pace(clock, clock.sleep))), \
        before, ours


TARGET = Target("c", "web", deadline_seconds=600)


def test_success_waits_for_our_deployment_with_backoff() -> None:
    ecs, clock, rollouts, before, ours = _setup()
    ecs.behaviour["web"].append(Behaviour(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]))
    described = rollouts.roll_out(TARGET, ours, Before(before, False))
    assert described["taskDefinition"] == ours
    assert clock.sleeps == [2.0, 3.0, 4.5]  # 2 s, x1.5 between looks
    assert ecs.count("describe_services") == 3
    assert ecs.running("c", "web") == ours


def test_failed_deployment_is_rolled_back_to_the_previous_revision() -> None:
    ecs, _, rollouts, before, ours = _setup()
    ecs.behaviour["web"].append(Behaviour(["IN_PROGRESS", "FAILED"]))
    with pytest.raises(RolloutFailedError) as caught:
        rollouts.roll_out(TARGET, ours, Before(before, False))
    error = caught.value
    assert "FAILED: tasks failed to start" in error.message
    assert "rolled back to revision 1" in error.message
    assert error.rolled_back_to == "dev-web:1"
    assert error.hint is not None
    assert "deployment failed: tasks failed to start" in error.hint  # last events
    assert "Essential container in task exited" in error.hint  # stopped reason
    assert "exit 137 (OutOfMemoryError)" in error.hint
    assert ecs.count("update_service") == 2
    assert ecs.running("c", "web") == before


def test_circuit_breaker_rollback_is_reported_not_repeated() -> None:
    ecs, _, rollouts, before, ours = _setup(circuit_breaker=True)
    ecs.behaviour["web"].append(Behaviour(["IN_PROGRESS"], then="circuit_breaker"))
    with pytest.raises(RolloutFailedError) as caught:
        rollouts.roll_out(TARGET, ours, Before(before, True))
    assert caught.value.kind == "gone"
    assert "ECS's circuit breaker rolled back to dev-web:1" in caught.value.message
    assert caught.value.rolled_back_to is None
    assert ecs.count("update_service") == 1  # no second rollback from us
    assert ecs.running("c", "web") == before


def test_failed_with_circuit_breaker_leaves_the_rollback_to_ecs() -> None:
    ecs, _, rollouts, before, ours = _setup(circuit_breaker=True)
    ecs.behaviour["web"].append(Behaviour(["FAILED"]))
    with pytest.raises(RolloutFailedError) as caught:
        rollouts.roll_out(TARGET, ours, Before(before, True))
    assert "ECS's circuit breaker rolls back to dev-web:1" in caught.value.message
    assert ecs.count("update_service") == 1


def test_superseded_by_a_concurrent_release_is_not_fought() -> None:
    ecs, _, rollouts, before, ours = _setup()
    ecs.behaviour["web"].append(Behaviour(["IN_PROGRESS"], then="superseded"))
    with pytest.raises(RolloutFailedError) as caught:
        rollouts.roll_out(TARGET, ours, Before(before, False))
    assert "superseded by another deployment; the service runs dev-web:3" in \
        caught.value.message
    assert ecs.count("update_service") == 1
    assert ecs.running("c", "web").endswith("dev-web:3")  # the other release's revision


def test_deadline_rolls_back_and_says_how_long_it_waited() -> None:
    ecs, clock, rollouts, before, ours = _setup()
    ecs.behaviour["web"] += [Behaviour(["IN_PROGRESS"] * 100), Behaviour()]
    began = clock.now
    with pytest.raises(RolloutFailedError) as caught:
        rollouts.roll_out(Target("c", "web", deadline_seconds=60), ours, Before(before, False))
    assert "not complete after 60s (state IN_PROGRESS)" in caught.value.message
    assert "rolled back to revision 1" in caught.value.message
    assert 60 <= clock.now - began < 120
    assert max(clock.sleeps) <= 15.0  # the backoff is capped
    assert ecs.running("c", "web") == before


def test_expired_token_mid_wait_says_to_authenticate_again() -> None:
    ecs, _, rollouts, before, ours = _setup()
    ecs.behaviour["web"].append(Behaviour(["IN_PROGRESS"] * 5))
    ecs.faults["describe_services"] = [None, client_error("ExpiredTokenException",
                                                          "DescribeServices")]
    with pytest.raises(ReleaseError) as caught:
        rollouts.roll_out(TARGET, ours, Before(before, False))
    assert "ExpiredTokenException" in caught.value.message
    assert "release stopped watching it" in caught.value.message
    assert "authenticate again" in (caught.value.hint or "")
    assert ecs.count("update_service") == 1  # nothing more is changed without credentials
    assert ecs.running("c", "web") == ours  # ECS goes on with the rollout it was given


def test_many_rollouts_share_batched_describe_calls() -> None:
    """28 services in two clusters: DescribeServices takes 10 per call, one poller for all."""
    ecs = FakeEcs()
    names = [("a", f"s{i}") for i in range(25)] + [("b", f"t{i}") for i in range(3)]
    arns = {}
    for cluster, name in names:
        body = {**BODY, "family": name}
        before = ecs.add_service(cluster, name, body)
        arns[name] = (before, ecs.register_task_definition(**{
            **NEW, "family": name})["taskDefinition"]["taskDefinitionArn"])
        ecs.behaviour[name].append(Behaviour(["IN_PROGRESS", "COMPLETED"]))
    ecs.calls.clear()
    clock = FakeClock()
    everyone = threading.Event()

    def sleep(seconds: float) -> None:  # hold the first look until all 28 are waiting
        everyone.wait(timeout=10)
        clock.sleep(seconds)

    watcher = RolloutWatcher(lambda: ecs, Pace(clock, sleep))
    rollouts = Rollouts(ecs, watcher)

    def one(item: tuple[str, str]) -> str:
        cluster, name = item
        before, ours = arns[name]
        return str(rollouts.roll_out(Target(cluster, name, 600), ours,
                                     Before(before, False))["taskDefinition"])

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [pool.submit(one, item) for item in names]
        deadline = time.monotonic() + 10
        while watcher.waiting < len(names) and time.monotonic() < deadline:
            threading.Event().wait(0.001)
        everyone.set()
        results = [f.result() for f in futures]
    assert results == [arns[name][1] for _, name in names]
    batches = [kw["services"] for op, kw in ecs.calls if op == "describe_services"]
    assert max(len(b) for b in batches) == 10
    assert len(batches) == 8  # 2 rounds x (3 calls for 25 services + 1 for 3)
    assert watcher.calls == 8
    assert clock.sleeps == [2.0, 3.0]


PUBLIC = {"awsvpcConfiguration": {"assignPublicIp": "ENABLED"}}


def _clients() -> dict[str, Scripted]:
    return {"elbv2": FakeElb(), "ecs": FakeEcs(), "ec2": FakeEc2()}


def _calls(clients: dict[str, Scripted]) -> list[str]:
    return [op for client in clients.values() for op, _ in client.calls]


def test_url_from_the_load_balancer() -> None:
    clients = _clients()
    described = {"serviceName": "web", "loadBalancers": [{"targetGroupArn": "arn:tg/web"}],
                 "networkConfiguration": PUBLIC}
    assert ecs_address.service_url(clients.__getitem__, "c", described) == \
        "http://web-1.eu-west-1.elb.amazonaws.com"
    assert _calls(clients) == ["describe_target_groups", "describe_load_balancers"]


def test_url_from_a_public_task_eni() -> None:
    clients = _clients()
    described = {"serviceName": "web", "loadBalancers": [], "networkConfiguration": PUBLIC}
    assert ecs_address.service_url(clients.__getitem__, "c", described) == \
        "http://ec2-web.eu-west-1.compute.amazonaws.com"
    # one service: its own ListTasks (a cluster-wide listing could only cost more)
    assert clients["ecs"].calls[0] == ("list_tasks", {
        "cluster": "c", "serviceName": "web", "desiredStatus": "RUNNING", "maxResults": 1})
    assert clients["ec2"].calls == [("describe_network_interfaces", {"Filters": [
        {"Name": "network-interface-id", "Values": ["eni-web"]}]})]


def test_a_task_without_a_public_ip_costs_no_call() -> None:
    clients = _clients()
    private = {"awsvpcConfiguration": {"assignPublicIp": "DISABLED"}}
    spots = [("c", {"serviceName": "a", "networkConfiguration": private}),
             ("c", {"serviceName": "b"})]  # no awsvpc network: no ENI of its own
    assert ecs_address.service_urls(clients.__getitem__, spots) == [None, None]
    assert _calls(clients) == []


def test_many_services_are_looked_up_together() -> None:
    """30 public services, 2 behind load balancers, 1 private: five calls in all."""
    clients = _clients()
    ecs = clients["ecs"]
    assert isinstance(ecs, FakeEcs)
    spots: list[tuple[str, dict[str, Any]]] = []
    for i in range(30):
        ecs.add_service("c", f"s{i}", {**BODY, "family": f"s{i}"})
        spots.append(("c", {"serviceName": f"s{i}", "networkConfiguration": PUBLIC}))
    spots += [("c", {"serviceName": name, "networkConfiguration": PUBLIC,
                     "loadBalancers": [{"targetGroupArn": f"arn:tg/{name}"}]})
              for name in ("api", "admin")]
    spots.append(("c", {"serviceName": "inner", "networkConfiguration": {
        "awsvpcConfiguration": {"assignPublicIp": "DISABLED"}}}))
    urls = ecs_address.service_urls(clients.__getitem__, spots)
    assert urls == [f"http://ec2-s{i}.eu-west-1.compute.amazonaws.com" for i in range(30)] + [
        "http://api-1.eu-west-1.elb.amazonaws.com",
        "http://admin-1.eu-west-1.elb.amazonaws.com", None]
    assert sorted(_calls(clients)) == sorted([
        "describe_target_groups", "describe_load_balancers",  # both balancers at once
        "list_tasks", "describe_tasks", "describe_network_interfaces"])  # the whole cluster


class _BigCluster(Scripted):
    """A cluster running 1,000 tasks of other services besides ours."""

    def list_tasks(self, cluster: str, **kwargs: Any) -> dict[str, Any]:
        self._call("list_tasks", cluster=cluster, **kwargs)
        if "serviceName" in kwargs:
            return {"taskArns": [f"task/{cluster}/live1-{kwargs['serviceName']}"]}
        start = int(kwargs.get("nextToken", 0))
        return {"taskArns": [f"task/{cluster}/other{i}" for i in range(start, start + 100)],
                "nextToken": str(start + 100)}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return FakeEcs().describe_tasks(cluster, tasks)


def test_a_large_cluster_is_not_listed_whole() -> None:
    clients: dict[str, Scripted] = {"elbv2": FakeElb(), "ecs": _BigCluster(), "ec2": FakeEc2()}
    spots = [("c", {"serviceName": f"s{i}", "networkConfiguration": PUBLIC}) for i in range(5)]
    urls = ecs_address.service_urls(clients.__getitem__, spots)
    assert urls == [f"http://ec2-s{i}.eu-west-1.compute.amazonaws.com" for i in range(5)]
    listed = [kw for op, kw in clients["ecs"].calls if op == "list_tasks"]
    assert len(listed) == 2 + 5  # two pages given up on (fewer calls than 5 services), then 5
    assert len(clients["ec2"].calls) == 1


def test_an_eni_gone_since_costs_only_its_own_url() -> None:
    clients = _clients()
    ecs, ec2 = clients["ecs"], clients["ec2"]
    assert isinstance(ecs, FakeEcs)
    assert isinstance(ec2, FakeEc2)
    for name in ("a", "b", "c"):
        ecs.add_service("cl", name, {**BODY, "family": name})
    ec2.gone.add("eni-b")
    spots = [("cl", {"serviceName": n, "networkConfiguration": PUBLIC}) for n in "abc"]
    assert ecs_address.service_urls(clients.__getitem__, spots) == [
        "http://ec2-a.eu-west-1.compute.amazonaws.com", None,
        "http://ec2-c.eu-west-1.compute.amazonaws.com"]


def test_no_url_when_the_lookup_fails() -> None:
    ecs = FakeEcs()
    ecs.faults["list_tasks"] = [client_error("AccessDeniedException", "ListTasks")]
    clients = {"elbv2": FakeElb(), "ecs": ecs, "ec2": FakeEc2()}
    assert ecs_address.service_url(clients.__getitem__, "c", {
        "serviceName": "web", "networkConfiguration": PUBLIC}) is None


def test_a_rollout_joining_once_polling_has_begun_restarts_the_backoff() -> None:
    """The next wave of a bounded pool must not be looked at only every 15 s."""
    ecs, clock = FakeEcs(), FakeClock()
    arns: dict[str, tuple[str, str]] = {}
    for name, states in (("a", ["IN_PROGRESS"] * 6 + ["COMPLETED"]),
                         ("b", ["IN_PROGRESS", "COMPLETED"])):
        before = ecs.add_service("c", name, {**BODY, "family": name})
        arns[name] = (before, ecs.register_task_definition(**{**NEW, "family": name})[
            "taskDefinition"]["taskDefinitionArn"])
        ecs.behaviour[name].append(Behaviour(states))
    ecs.calls.clear()
    results: dict[str, str] = {}
    late: list[threading.Thread] = []

    def run(name: str) -> None:
        before, ours = arns[name]
        results[name] = str(rollouts.roll_out(Target("c", name, 600), ours,
                                              Before(before, False))["taskDefinition"])

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:  # a has been looked at twice: b starts now
            late.append(threading.Thread(target=run, args=("b",)))
            late[0].start()
            deadline = time.monotonic() + 5
            while watcher.waiting < 2 and time.monotonic() < deadline:
                time.sleep(0.01)

    watcher = RolloutWatcher(lambda: ecs, Pace(clock, sleep))
    rollouts = Rollouts(ecs, watcher)
    run("a")
    late[0].join(timeout=10)
    assert results == {"a": arns["a"][1], "b": arns["b"][1]}
    assert clock.sleeps[:4] == [2.0, 3.0, 4.5, 2.0]  # b's arrival restarted the schedule


class _WakeableSleep:
    """A fake-clock sleep that a joining rollout can cut short: a long pause blocks (for
    real, at most 10 s) until woken, then only 0.5 s has passed on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pauses: list[float] = []
        self.in_long_pause = threading.Event()
        self._woken = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if seconds < 10:
            self.clock.sleep(seconds)
            return
        self.in_long_pause.set()
        woken = self._woken.wait(timeout=10)
        self._woken.clear()
        self.clock.sleep(0.5 if woken else seconds)

    def wake(self) -> None:
        self._woken.set()


def test_a_rollout_joining_during_a_long_pause_cuts_it_short() -> None:
    """The leader has begun a 15 s pause when b starts: b is looked at 2 s later."""
    ecs, clock = FakeEcs(), FakeClock()
    arns: dict[str, tuple[str, str]] = {}
    for name, states in (("a", ["IN_PROGRESS", "COMPLETED"]), ("b", ["COMPLETED"])):
        before = ecs.add_service("c", name, {**BODY, "family": name})
        arns[name] = (before, ecs.register_task_definition(**{**NEW, "family": name})[
            "taskDefinition"]["taskDefinitionArn"])
        ecs.behaviour[name].append(Behaviour(states))
    ecs.calls.clear()
    sleep = _WakeableSleep(clock)
    watcher = RolloutWatcher(lambda: ecs, Pace(clock, sleep, first_delay=2.0, factor=10.0))
    rollouts = Rollouts(ecs, watcher)
    results: dict[str, str] = {}
    looks: list[tuple[float, list[str]]] = []
    describe = ecs.describe_services

    def watched(cluster: str, services: list[str]) -> dict[str, Any]:
        looks.append((clock.now, list(services)))
        return describe(cluster, services)

    ecs.describe_services = watched  # type: ignore[method-assign]

    def run(name: str) -> None:
        before, ours = arns[name]
        results[name] = str(rollouts.roll_out(Target("c", name, 600), ours,
                                              Before(before, False))["taskDefinition"])

    first = threading.Thread(target=run, args=("a",))
    first.start()
    assert sleep.in_long_pause.wait(timeout=10)  # a: looked at once, now in a 15 s pause
    joined = clock.now
    run("b")
    first.join(timeout=10)
    assert results == {"a": arns["a"][1], "b": arns["b"][1]}
    assert sleep.pauses[:2] == [2.0, 15.0]
    looked_at_b = [when for when, names in looks if "b" in names]
    assert looked_at_b == [joined + 2.0]  # not at the end of the 15 s pause


class _BoundEcs(FakeEcs):
    """Tasks bound on an address (the local cloud's listener answers on 127.0.0.1)."""

    def __init__(self, bind_ip: str) -> None:
        super().__init__()
        self.bind_ip = bind_ip

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        found = super().describe_tasks(cluster, tasks)
        for task in found["tasks"]:
            task["containers"] = [{"name": "web", "networkBindings": [
                {"bindIP": self.bind_ip, "hostPort": 18080, "containerPort": 80}]}]
        return found


@pytest.mark.parametrize(("bind_ip", "url", "ec2_calls"), [
    ("127.0.0.1", "http://127.0.0.1:18080", 0),  # the local listener: no ENI lookup
    ("10.0.0.5", "http://ec2-web.eu-west-1.compute.amazonaws.com", 1),  # never followed
])
def test_url_from_a_loopback_binding(bind_ip: str, url: str, ec2_calls: int) -> None:
    clients = {**_clients(), "ecs": _BoundEcs(bind_ip)}
    described = {"serviceName": "web", "loadBalancers": [], "networkConfiguration": PUBLIC}
    assert ecs_address.service_url(clients.__getitem__, "c", described) == url
    assert len(clients["ec2"].calls) == ec2_calls
