"""The ECS front before a real moto server (no Docker): AWS calls pass through unchanged, the
owned ECS operations reach the handler (after moto where moto keeps the service), ECS errors
reach boto3 as its exceptions, and ``check_shape`` holds answers to botocore's shapes."""

from __future__ import annotations

import http.client
import io
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from release.local.ecs import proxy
from release.local.ecs.api import EcsError, EcsFront, check_shape

REGION = "us-east-1"
Json = dict[str, Any]


class FakePlane:
    """Records every call; answers from ``answers`` or raises from ``errors``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Json, Json | None]] = []
        self.errors: dict[str, EcsError] = {}

    def reset(self) -> None:
        self.calls.append(("reset", {}, None))

    def _record(self, name: str, request: Json, moto: Json | None = None) -> None:
        self.calls.append((name, request, moto))
        if name in self.errors:
            raise self.errors[name]

    def create_service(self, request: Json, moto_answer: Json) -> Json:
        self._record("create_service", request, moto_answer)
        return moto_answer

    def update_service(self, request: Json, moto_answer: Json) -> Json:
        self._record("update_service", request, moto_answer)
        return moto_answer

    def delete_service(self, request: Json, moto_answer: Json) -> Json:
        self._record("delete_service", request, moto_answer)
        return moto_answer

    def describe_services(self, request: Json, moto_answer: Json) -> Json:
        self._record("describe_services", request, moto_answer)
        services = [{**service, "runningCount": 7, "pendingCount": 0,
                     "events": [{"id": "e1", "createdAt": 1.7e9, "message": "overlaid"}]}
                    for service in moto_answer.get("services", [])]
        return {**moto_answer, "services": services}

    def list_tasks(self, request: Json) -> Json:
        self._record("list_tasks", request)
        return {"taskArns": ["arn:aws:ecs:us-east-1:123456789012:task/c/abc"]}

    def describe_tasks(self, request: Json) -> Json:
        self._record("describe_tasks", request)
        return {"tasks": [{"taskArn": request["tasks"][0], "lastStatus": "RUNNING",
                           "healthStatus": "HEALTHY", "startedBy": "ecs-svc/1"}],
                "failures": []}

    def stop_task(self, request: Json) -> Json:
        self._record("stop_task", request)
        return {"task": {"taskArn": request["task"], "desiredStatus": "STOPPED"}}

    def list_service_deployments(self, request: Json) -> Json:
        self._record("list_service_deployments", request)
        return {"serviceDeployments": [{"serviceDeploymentArn": "arn:d/1",
                                        "status": "SUCCESSFUL"}]}

    def describe_service_deployments(self, request: Json) -> Json:
        self._record("describe_service_deployments", request)
        return {"serviceDeployments": [], "failures": []}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto in server mode on a free port of 127.0.0.1, in this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def plane() -> FakePlane:
    return FakePlane()


@pytest.fixture
def front(moto_url: str, plane: FakePlane) -> Iterator[EcsFront]:
    made = EcsFront(0, moto_url, plane, timeout=10)
    made.start()
    yield made
    made.close()


@pytest.fixture
def client(front: EcsFront) -> Iterator[Any]:
    """``client("s3")``: a boto3 client pointed at the front (closed at teardown)."""
    import boto3

    made: list[Any] = []

    def make(service: str) -> Any:
        one = boto3.session.Session().client(
            service, endpoint_url=front.url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing")
        made.append(one)
        return one

    yield make
    for one in made:
        one.close()


def _service(client: Any, cluster: str, name: str) -> Any:
    ecs = client("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family=name, containerDefinitions=[
        {"name": "web", "image": "nginx", "memory": 64}])
    return ecs


def test_other_services_pass_through_unchanged(client: Any, plane: FakePlane) -> None:
    assert client("sts").get_caller_identity()["Account"] == "123456789012"
    s3 = client("s3")
    s3.create_bucket(Bucket="front-bucket")
    s3.put_object(Bucket="front-bucket", Key="a/b.txt", Body=b"hello" * 1000)
    assert s3.get_object(Bucket="front-bucket", Key="a/b.txt")["Body"].read() == b"hello" * 1000
    assert s3.head_object(Bucket="front-bucket", Key="a/b.txt")["ContentLength"] == 5000
    large = bytes(range(256)) * 8192  # 2 MiB: botocore sends Expect: 100-continue
    s3.put_object(Bucket="front-bucket", Key="large", Body=large)
    assert s3.get_object(Bucket="front-bucket", Key="large")["Body"].read() == large
    s3.delete_object(Bucket="front-bucket", Key="large")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="front-bucket")["Contents"]] == [
        "a/b.txt"]
    assert "Functions" in client("lambda").list_functions()
    ssm = client("ssm")
    ssm.put_parameter(Name="/front/p", Value="v", Type="String")
    assert ssm.get_parameter(Name="/front/p")["Parameter"]["Value"] == "v"
    ecs = _service(client, "pass", "passdef")
    assert ecs.describe_task_definition(taskDefinition="passdef")["taskDefinition"]["family"]
    assert ecs.describe_clusters(clusters=["pass"])["clusters"][0]["clusterName"] == "pass"
    assert plane.calls == []


def test_s3_path_style_raw_request(front: EcsFront, client: Any) -> None:
    client("s3").create_bucket(Bucket="raw-bucket")
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    auth = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0")
    connection.request("PUT", "/raw-bucket/k?x-id=PutObject", body=b"raw",
                       headers={"Authorization": auth})
    assert connection.getresponse().read() == b""
    connection.request("GET", "/raw-bucket/k", headers={"Authorization": auth})
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"raw")
    connection.close()


def test_create_service_reaches_moto_then_the_handler(client: Any, plane: FakePlane,
                                                      moto_url: str) -> None:
    import boto3

    ecs = _service(client, "c1", "web")
    answer = ecs.create_service(cluster="c1", serviceName="svc", taskDefinition="web",
                                desiredCount=2)
    name, request, moto_answer = plane.calls[-1]
    assert (name, request["serviceName"], request["desiredCount"]) == ("create_service", "svc", 2)
    assert moto_answer is not None
    assert moto_answer["service"]["serviceArn"] == answer["service"]["serviceArn"]
    direct = boto3.session.Session().client(
        "ecs", endpoint_url=moto_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        assert direct.describe_services(cluster="c1", services=["svc"])["services"]
    finally:
        direct.close()
    described = ecs.describe_services(cluster="c1", services=["svc"])
    assert described["services"][0]["runningCount"] == 7
    assert described["services"][0]["events"][0]["message"] == "overlaid"
    assert plane.calls[-1][0] == "describe_services"
    assert plane.calls[-1][2]["services"][0]["serviceName"] == "svc"  # type: ignore[index]


def test_task_and_deployment_answers_come_from_the_handler(client: Any,
                                                           plane: FakePlane) -> None:
    ecs = client("ecs")
    arns = ecs.list_tasks(cluster="c", serviceName="svc")["taskArns"]
    assert arns == ["arn:aws:ecs:us-east-1:123456789012:task/c/abc"]
    tasks = ecs.describe_tasks(cluster="c", tasks=arns)["tasks"]
    assert tasks[0]["healthStatus"] == "HEALTHY"
    assert ecs.stop_task(cluster="c", task=arns[0])["task"]["desiredStatus"] == "STOPPED"
    listed = ecs.list_service_deployments(cluster="c", service="svc")
    assert listed["serviceDeployments"][0]["status"] == "SUCCESSFUL"
    assert ecs.describe_service_deployments(serviceDeploymentArns=["arn:d/1"])["failures"] == []
    assert [call[0] for call in plane.calls] == [
        "list_tasks", "describe_tasks", "stop_task", "list_service_deployments",
        "describe_service_deployments"]
    assert all(call[2] is None for call in plane.calls)


def test_handler_errors_reach_boto3_as_ecs_exceptions(client: Any, plane: FakePlane) -> None:
    from botocore.exceptions import ClientError

    ecs = client("ecs")
    plane.errors["describe_tasks"] = EcsError("ServiceNotFoundException", "no such service")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException) as caught:
        ecs.describe_tasks(cluster="c", tasks=["t"])
    assert caught.value.response["Error"]["Message"] == "no such service"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    plane.errors["list_tasks"] = EcsError("ClusterNotFoundException", "no cluster")
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_tasks(cluster="nope")
    plane.errors["stop_task"] = EcsError("InvalidParameterException", "bad")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.stop_task(task="t")
    plane.errors["list_service_deployments"] = KeyError("boom")  # type: ignore[assignment]
    quick = client("ecs")
    quick.meta.config.retries = {"max_attempts": 0}
    with pytest.raises(ClientError) as failed:
        quick.list_service_deployments(cluster="c", service="svc")
    assert failed.value.response["Error"]["Code"] == "ServerException"


def test_moto_errors_are_relayed_unchanged(client: Any, plane: FakePlane) -> None:
    ecs = _service(client, "c2", "web2")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(cluster="c2", service="missing", desiredCount=1)
    assert plane.calls == []


def test_binds_loopback_only_and_closes_quickly(moto_url: str, plane: FakePlane,
                                                client: Any) -> None:
    front = EcsFront(0, moto_url, plane)
    front.start()
    assert front._server is not None
    assert front._server.socket.getsockname()[0] == "127.0.0.1"
    port = front.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    idle.request("GET", "/moto-api/config")
    assert idle.getresponse().read()  # the connection stays open (keep-alive), idle
    started = time.monotonic()
    front.close()
    assert time.monotonic() - started < 1.5
    assert idle.sock is not None
    assert idle.sock.recv(1) == b""  # the front ended it
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_read_body_chunked_and_limits() -> None:
    chunked = io.BytesIO(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n")
    assert proxy.read_body(chunked, [("Transfer-Encoding", "chunked")], 10) == b"abcde"
    with pytest.raises(proxy.BodyError) as large:
        proxy.read_body(io.BytesIO(b"x" * 20), [("Content-Length", "20")], 10)
    assert large.value.status == 413
    with pytest.raises(proxy.BodyError):
        proxy.read_body(io.BytesIO(b"xy"), [("Content-Length", "5")], 10)


GOOD = {"services": [{
    "serviceName": "svc", "status": "ACTIVE", "desiredCount": 2, "runningCount": 2,
    "createdAt": 1.7e9, "launchType": "FARGATE",
    "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED",
                     "createdAt": "2024-01-01T00:00:00Z", "runningCount": 2}],
    "events": [{"id": "1", "createdAt": 1.7e9, "message": "has reached a steady state."}],
    "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True,
                                                             "rollback": True}},
}], "failures": []}


def test_check_shape_accepts_a_good_answer() -> None:
    assert check_shape("DescribeServices", GOOD) == []
    assert check_shape("describe_services", GOOD) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"runningCount": "2"}, "services[0].runningCount: a string, not an integer"),
    ({"rollout": "x"}, "services[0].rollout: Service has no member 'rollout'"),
    ({"launchType": "LAMBDA"}, "services[0].launchType: 'LAMBDA' is not one of"),
    ({"deployments": {"id": "1"}}, "services[0].deployments: an object, not a list"),
    ({"createdAt": "yesterday"}, "services[0].createdAt: 'yesterday' is not an ISO 8601"),
    ({"desiredCount": True}, "services[0].desiredCount: a boolean, not an integer"),
    ({"events": None}, "services[0].events: null"),
])
def test_check_shape_finds_what_is_wrong(change: Json, expected: str) -> None:
    wrong = {**GOOD, "services": [{**GOOD["services"][0], **change}]}  # type: ignore[dict-item]
    problems = check_shape("DescribeServices", wrong)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_check_shape_nested_and_unknown_operation() -> None:
    wrong = {"tasks": [{"containers": [{"healthStatus": "GREEN", "exitCode": 1.5}]}]}
    assert len(check_shape("DescribeTasks", wrong)) == 2
    with pytest.raises(ValueError, match="no operation"):
        check_shape("DescribeNothing", {})


def test_a_reset_of_moto_through_the_front_resets_the_plane(front: EcsFront,
                                                            plane: FakePlane) -> None:
    import urllib.request

    request = urllib.request.Request(f"{front.url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the front
        assert answer.status == 200
    assert [name for name, _, _ in plane.calls] == ["reset"]

