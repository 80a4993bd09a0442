"""bench/ecs_proxy.py and bench/deploy_report.py: the counting and the figures are right.

The deploy benchmark's verdicts rest on two things tested here without a cloud: every
request is named as the AWS operation it is (and mutating or not), and the simulated
rollouts show ECS's tasks the way every tool reads them.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import deploy_report  # noqa: E402
from alternatives import Timed  # noqa: E402
from ecs_proxy import RolloutSimulator, is_mutating, operation_of  # noqa: E402

SIGNED = "AWS4-HMAC-SHA256 Credential=bench/20261122/eu-west-1/{}/aws4_request, Signed=x"


@pytest.mark.parametrize(("service", "method", "path", "expected"), [
    ("lambda", "GET", "/2015-03-31/functions/local-l-00", "lambda:GetFunction"),
    ("lambda", "GET", "/2015-03-31/functions/local-l-00?Qualifier=live", "lambda:GetFunction"),
    ("lambda", "GET", "/2015-03-31/functions/f/configuration", "lambda:GetFunctionConfiguration"),
    ("lambda", "PUT", "/2015-03-31/functions/f/code", "lambda:UpdateFunctionCode"),
    ("lambda", "POST", "/2015-03-31/functions/f/versions", "lambda:PublishVersion"),
    ("lambda", "PUT", "/2015-03-31/functions/f/aliases/live", "lambda:UpdateAlias"),
    ("lambda", "POST", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Af",
     "lambda:TagResource"),
    ("s3", "PUT", "/bucket/key", "s3:PUT /bucket"),
])
def test_rest_requests_are_named_by_operation(service: str, method: str, path: str,
                                              expected: str) -> None:
    headers = {"Authorization": SIGNED.format(service)}
    assert operation_of(headers, b"", method, path) == expected


def test_json_and_query_requests_are_named_by_operation() -> None:
    ecs = {"Authorization": SIGNED.format("ecs"),
           "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.UpdateService"}
    assert operation_of(ecs, b"{}", "POST", "/") == "ecs:UpdateService"
    ec2 = {"Authorization": SIGNED.format("ec2"),
           "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert operation_of(ec2, b"Action=DescribeNetworkInterfaces&Version=2016-11-15", "POST",
                        "/") == "ec2:DescribeNetworkInterfaces"


@pytest.mark.parametrize(("operation", "mutating"), [
    ("ecs:RegisterTaskDefinition", True), ("ecs:DeregisterTaskDefinition", True),
    ("ecs:UpdateService", True), ("ecs:TagResource", True), ("lambda:PublishVersion", True),
    ("ecs:DescribeServices", False), ("ecs:ListTasks", False),
    ("ecr:GetAuthorizationToken", False), ("lambda:GetFunction", False),
])
def test_mutating_operations(operation: str, mutating: bool) -> None:
    assert is_mutating(operation) is mutating


CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/bench"


def _service(name: str, arn: str) -> dict[str, Any]:
    return {"clusterArn": CLUSTER, "serviceName": name, "taskDefinition": arn,
            "desiredCount": 1}


def test_a_cluster_wide_listing_shows_every_rolled_out_service_in_pages() -> None:
    sim = RolloutSimulator(0.0, "eu-west-1", "123456789012")
    for i in range(150):
        name = f"s{i:03d}"
        sim.learn("DescribeServices", {"services": [_service(name, f"td/{name}:1")]})
        sim.update_service({"service": _service(name, f"td/{name}:2")})
    first = sim.list_tasks({"cluster": "bench", "maxResults": 100}, {"taskArns": []})
    assert len(first["taskArns"]) == 100
    second = sim.list_tasks({"cluster": "bench", "nextToken": first["nextToken"]},
                            {"taskArns": []})
    assert len(second["taskArns"]) == 50
    assert "nextToken" not in second
    one = sim.list_tasks({"cluster": "bench", "serviceName": "s007"}, {"taskArns": []})
    tasks = sim.describe_tasks({"tasks": one["taskArns"]}, {"tasks": [], "failures": []})
    assert [t["group"] for t in tasks["tasks"]] == ["service:s007"]
    assert tasks["tasks"][0]["taskDefinitionArn"] == "td/s007:2"  # the rollout is over
    assert one["taskArns"][0] in first["taskArns"] + second["taskArns"]


def test_during_a_rollout_the_old_revision_runs() -> None:
    sim = RolloutSimulator(3600.0, "eu-west-1", "123456789012")
    sim.learn("DescribeServices", {"services": [_service("web", "td/web:1")]})
    sim.update_service({"service": _service("web", "td/web:2")})
    listed = sim.list_tasks({"cluster": "bench"}, {"taskArns": []})
    tasks = sim.describe_tasks({"tasks": listed["taskArns"]}, {"tasks": []})["tasks"]
    assert [t["taskDefinitionArn"] for t in tasks] == ["td/web:1"]
    described = sim.describe_services({"services": [_service("web", "td/web:2")]})
    states = [(d["status"], d["rolloutState"]) for d in described["services"][0]["deployments"]]
    assert states == [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")]


def _timed(app: str, start: float, end: float) -> Timed:
    return Timed(app, app, start, end)


def test_smaller_loops_are_the_first_processes_of_the_loop() -> None:
    m = deploy_report.Measured((1, 2, 3), 0, 3.0)
    m.ecs_deploy = [_timed("a", 0, 5), _timed("b", 5, 11), _timed("c", 11, 18)]
    m.calls = {"a": Counter({"ecs:DescribeServices": 5}),
               "b": Counter({"ecs:DescribeServices": 6, "ecs:UpdateService": 1}),
               "c": Counter({"ecs:DescribeServices": 7})}
    one, two, three = (deploy_report.ecs_deploy_row(m, n) for n in (1, 2, 3))
    assert (one.seconds, one.total) == (5, 5)
    assert (two.seconds, two.total, two.mutating) == (11, 12, 1)
    assert (three.seconds, three.total) == (18, 19)


def test_the_calls_target_is_judged_at_the_longer_rollout_when_it_ran() -> None:
    @dataclass
    class Run:  # the fields item1 reads of a ReleaseRun
        app: str
        seconds: float
        build_seconds: float = 0.0

    m = deploy_report.Measured((2,), 0, 2.0, long_rollout_seconds=10.0)
    m.release = {2: Run("rel-2", 4.0)}
    m.ecs_deploy = [_timed("e1", 0, 10), _timed("e2", 10, 21)]
    m.long_release = Run("long-rel", 15.0)
    m.long_ecs_deploy = [_timed("l1", 0, 12), _timed("l2", 0, 13)]
    m.calls = {"rel-2": Counter({"ecs:DescribeServices": 3, "ecs:UpdateService": 2}),
               "e1": Counter({"ecs:DescribeServices": 11}),
               "e2": Counter({"ecs:DescribeServices": 11}),
               "long-rel": Counter({"ecs:DescribeServices": 6, "ecs:UpdateService": 2}),
               "l1": Counter({"ecs:DescribeServices": 19}),
               "l2": Counter({"ecs:DescribeServices": 21})}
    text, figures, headlines = deploy_report.item1(m, "python bench/deploy_api_calls.py")
    judged = {h.figure: h for h in headlines}
    at_ten = judged["deploy 2 services: ecs-deploy API calls / release's (10 s rollouts)"]
    assert (at_ten.value, at_ten.met) == ("5.0x", True)  # 40 calls / 8
    at_two = judged["deploy 2 services: ecs-deploy API calls / release's (2 s rollouts)"]
    assert (at_two.value, at_two.met) == ("4.4x", None)  # 22 / 5: shown, not judged
    assert figures["long"]["ratio"] == 5.0
    assert "API calls at 10 s rollouts" in text
