"""Throttling and 5xx bursts through REAL botocore clients (the factory's standard retry mode).

moto never throttles, so a small HTTP stub sits between the clients and an in-process moto
server: it answers the first N requests of every API operation with a throttling error
(or a 503), then forwards to moto. botocore's own retry code runs; only its backoff delay
is replaced (recorded, not slept). Each test asserts the requests the stub saw and what
moto runs afterwards.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.retries.standard
import pytest
from fakecloud import FakeClock

from release.adapters.aws import clients, ecs, lambda_
from release.adapters.aws.ecs_rollout import Before, Rollouts, Target
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.config.model import AwsAccount
from release.errors import ReleaseError

REGION, ACCOUNT = "eu-west-1", "123456789012"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Faults:
    """What the stub does: fail the first ``count`` requests of each operation with ``kind``."""

    kind: str = "throttle"  # throttle | 503
    count: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)


def _operation(handler: BaseHTTPRequestHandler) -> str:
    target = handler.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    return f"{handler.command} {handler.path.split('?', 1)[0]}"


def _stub(moto_port: int, faults: Faults) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            op = _operation(self)
            faults.seen[op] += 1
            if faults.seen[op] <= faults.count:
                faults.failed[op] += 1
                self._fault()
                return
            conn = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in {"transfer-encoding", "connection", "content-length",
                                       "date", "server"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fault(self) -> None:
            if faults.kind == "503":
                data = b"Service Unavailable"
                self.send_response(503)
            elif self.headers.get("X-Amz-Target"):  # JSON protocol (ECS)
                data = json.dumps({"__type": "ThrottlingException",
                                   "message": "Rate exceeded"}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
            else:  # REST-JSON (Lambda)
                data = json.dumps({"message": "Rate exceeded"}).encode()
                self.send_response(429)
                self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def moto_port() -> Iterator[int]:
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        yield port
        server.stop()


@pytest.fixture
def world(moto_port: int) -> Iterator[tuple[Faults, clients.AwsClients, list[float]]]:
    """Clients made by the real factory, pointed at the stub; moto reset and seeded."""
    urlopen = http.client.HTTPConnection("127.0.0.1", moto_port)
    urlopen.request("POST", "/moto-api/reset")
    urlopen.getresponse().read()
    urlopen.close()
    faults = Faults()
    stub = _stub(moto_port, faults)
    account = AwsAccount(REGION, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/r",
                         f"http://127.0.0.1:{stub.server_address[1]}")
    aws = clients.AwsClients(account)
    _seed(aws)
    faults.seen.clear()
    delays: list[float] = []
    original = botocore.retries.standard.ExponentialBackoff.delay_amount

    def recorded(self: Any, context: Any) -> float:
        delays.append(original(self, context))
        return 0.0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", recorded)
        yield faults, aws, delays
    aws.close()
    stub.shutdown()
    stub.server_close()


def _seed(aws: clients.AwsClients) -> None:
    ecs_client, lam = aws.client("ecs"), aws.client("lambda")
    ecs_client.create_cluster(clusterName="c")
    arn = ecs_client.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "img:1", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs_client.create_service(cluster="c", serviceName="web", taskDefinition=arn,
                              desiredCount=1)
    role = aws.client("iam").create_role(
        RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="fn", PackageType="Image", Role=role,
                        Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fn:1"},
                        Publish=True)
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")


def _release(aws: clients.AwsClients) -> tuple[str, str]:
    """Register and roll out a new revision, and deploy a new Lambda image; return both."""
    client = aws.client("ecs")
    before = ecs.describe(client, "c", "web")
    arn = ecs.register(client, {"family": "web", "containerDefinitions": [
        {"name": "web", "image": "img:2", "memory": 128}]})
    clock = FakeClock()
    Rollouts(client, RolloutWatcher(lambda: client, Pace(clock, clock.sleep))).roll_out(
        Target("c", "web", 600), arn, Before(before.task_definition_arn, False))
    version = lambda_.deploy_image(aws.client("lambda"), lambda_.FunctionUpdate(
        "fn", "live", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fn:2", None, {"k": "v"}),
        lambda_.Pace(clock, clock.sleep, lambda: 0.0))
    return arn, version


def _assert_released(aws: clients.AwsClients, arn: str, version: str) -> None:
    running = aws.client("ecs").describe_services(cluster="c", services=["web"])["services"][0]
    assert running["taskDefinition"] == arn
    assert aws.client("lambda").get_alias(FunctionName="fn", Name="live")[
        "FunctionVersion"] == version


@pytest.mark.parametrize("kind", ["throttle", "503"])
def test_every_api_failing_twice_is_retried_and_the_release_completes(
        world: tuple[Faults, clients.AwsClients, list[float]], kind: str) -> None:
    faults, aws, delays = world
    faults.kind, faults.count = kind, 2
    arn, version = _release(aws)
    faults.count = 0
    _assert_released(aws, arn, version)
    operations = set(faults.failed)
    assert {"DescribeServices", "RegisterTaskDefinition", "UpdateService",
            "DescribeTaskDefinition"} <= operations
    assert any("/versions" in op for op in operations)  # PublishVersion
    assert all(count == 2 for count in faults.failed.values())
    assert len(delays) == 2 * len(operations)  # one backoff per retry, none slept
    assert all(delay > 0 for delay in delays[:1])


def test_throttling_beyond_the_attempts_is_a_clear_error(
        world: tuple[Faults, clients.AwsClients, list[float]]) -> None:
    faults, aws, delays = world
    faults.count = 100
    with pytest.raises(ReleaseError) as caught:
        ecs.describe(aws.client("ecs"), "c", "web")
    assert "describe ECS service c/web: ThrottlingException: Rate exceeded" in \
        caught.value.message
    # botocore's `retries.max_attempts` counts retries, not tries: 1 + 8 requests
    assert faults.seen["DescribeServices"] == clients.MAX_ATTEMPTS + 1
    assert len(delays) == clients.MAX_ATTEMPTS
