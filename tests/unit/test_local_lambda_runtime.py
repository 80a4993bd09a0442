"""The local Lambda runtime without Docker: the Runtime API server on a host socket, the
version choice, the warm pool with fake environments, and the Invoke front's answers."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from release.local.lambda_ import function
from release.local.lambda_.environment import Ended, container_args, timed_out
from release.local.lambda_.function import FunctionConfig, Target
from release.local.lambda_.invoke import LambdaFront, log_result
from release.local.lambda_.pool import Pool, ThrottledError
from release.local.lambda_.runtime_api import Invocation, Outcome, RuntimeApi

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:fn"


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = RuntimeApi(sock, max_response=1024)
    server.start()
    yield server
    server.close()


def call(api: RuntimeApi, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    port = api._server.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, f"/2018-06-01/runtime{path}", body=body,
                           headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def invocation(request_id: str = "req-1") -> Invocation:
    return Invocation(request_id, b'{"input": 1}', 1_900_000_000_000, f"{ARN}:live")


def test_next_hands_over_the_event_with_its_context_and_response_ends_it(
        api: RuntimeApi) -> None:
    api.submit(invocation())
    status, headers, body = call(api, "GET", "/invocation/next")
    assert (status, body) == (200, b'{"input": 1}')
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1900000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == f"{ARN}:live"
    assert call(api, "POST", "/invocation/req-1/response", b'"done"')[:1] == (202,)
    assert api.outcome("req-1", 1) == Outcome("response", b'"done"')


def test_a_response_for_another_request_id_is_refused(api: RuntimeApi) -> None:
    api.submit(invocation())
    call(api, "GET", "/invocation/next")
    status, _, body = call(api, "POST", "/invocation/other/response", b"{}")
    assert status == 400
    assert json.loads(body)["errorType"] == "InvalidRequestID"
    assert api.outcome("req-1", 0.2) is None  # still running


def test_an_error_document_is_kept_and_a_text_error_is_wrapped(api: RuntimeApi) -> None:
    api.submit(invocation())
    call(api, "GET", "/invocation/next")
    document = b'{"errorType": "ValueError", "errorMessage": "bad"}'
    call(api, "POST", "/invocation/req-1/error", document)
    assert api.outcome("req-1", 1) == Outcome("error", document, "ValueError")
    api.submit(invocation("req-2"))
    call(api, "GET", "/invocation/next")
    call(api, "POST", "/invocation/req-2/error", b"plain text",
         {"Lambda-Runtime-Function-Error-Type": "Runtime.Crash"})
    found = api.outcome("req-2", 1)
    assert found is not None
    assert json.loads(found.body) == {"errorType": "Runtime.Crash", "errorMessage": "plain text"}


def test_a_response_over_the_limit_fails_the_invocation(api: RuntimeApi) -> None:
    api.submit(invocation())
    call(api, "GET", "/invocation/next")
    status, _, _ = call(api, "POST", "/invocation/req-1/response", b"x" * 2048)
    assert status == 413
    found = api.outcome("req-1", 1)
    assert found is not None
    assert found.error_type == "Function.ResponseSizeTooLarge"


def test_an_init_error_ends_the_waiting_invocation(api: RuntimeApi) -> None:
    api.submit(invocation())
    call(api, "POST", "/init/error", b'{"errorType": "Runtime.NoHandler", "errorMessage": "x"}')
    found = api.outcome("req-1", 1)
    assert found is not None
    assert (found.kind, found.error_type) == ("init_error", "Runtime.NoHandler")


def test_an_unknown_path_is_404_and_close_releases_a_waiting_next(api: RuntimeApi) -> None:
    assert call(api, "GET", "/nothing")[0] == 404
    answers: list[int] = []
    waiter = threading.Thread(target=lambda: answers.append(
        call(api, "GET", "/invocation/next")[0]))
    waiter.start()
    threading.Event().wait(0.3)
    api.close()
    waiter.join(5)
    assert answers == [410]


def test_one_invocation_at_a_time(api: RuntimeApi) -> None:
    api.submit(invocation())
    with pytest.raises(RuntimeError, match="busy"):
        api.submit(invocation("req-2"))


@pytest.mark.parametrize(("name", "query", "want"), [
    ("fn", None, Target("fn", None)),
    ("fn", "live", Target("fn", "live")),
    ("fn%3Alive", None, Target("fn", "live")),
    ("fn:7", None, Target("fn", "7")),
    (f"{ARN}:live".replace(":", "%3A"), None, Target("fn", "live")),
    (ARN, "3", Target("fn", "3")),
])
def test_the_target_of_an_invoke(name: str, query: str | None, want: Target) -> None:
    assert function.target(name, query) == want


@pytest.mark.parametrize(("weights", "draw", "want"), [
    ({}, 0.99, "1"),
    ({"2": 0.1}, 0.05, "2"),
    ({"2": 0.1}, 0.1, "1"),
    ({"2": 0.1}, 0.5, "1"),
    ({"2": 0.3, "3": 0.3}, 0.45, "3"),
    ({"2": 1.0}, 0.999, "2"),
])
def test_an_alias_chooses_by_weight(weights: dict[str, float], draw: float, want: str) -> None:
    assert function.choose("1", weights, draw) == want


def get_function_answer(version: str = "1", package: str = "Image") -> dict[str, Any]:
    return {"Configuration": {
        "FunctionName": "fn", "FunctionArn": f"{ARN}:{version}", "Version": version,
        "PackageType": package, "Timeout": 5, "MemorySize": 256,
        "Environment": {"Variables": {"B": "2", "A": "1"}},
        "ImageConfigResponse": {"ImageConfig": {"Command": ["handler.main"],
                                                "WorkingDirectory": "/app"}}},
        "Code": {"ImageUri": "127.0.0.1:5001/fn@sha256:abc"}}


def test_get_function_as_a_configuration() -> None:
    config = function.from_answer(get_function_answer("4"), "4")
    assert config == FunctionConfig(
        name="fn", arn=ARN, version="4", image="127.0.0.1:5001/fn@sha256:abc",
        environment=(("A", "1"), ("B", "2")), timeout=5, memory=256,
        command=("handler.main",), working_directory="/app", log_group="/aws/lambda/fn")
    assert function.from_answer(get_function_answer(package="Zip"), "1") is None


def test_the_container_gets_the_runtime_api_and_cannot_override_reserved_names() -> None:
    config = FunctionConfig(name="fn", arn=ARN, version="2", image="img",
                            environment=(("AWS_LAMBDA_RUNTIME_API", "evil:1"), ("X", "y")),
                            entry_point=("/bootstrap",))
    args = container_args(config, pause_id="p1", plane="local", stream="s", region="eu-west-1")
    assert "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001" in args["environment"]
    assert "AWS_LAMBDA_RUNTIME_API=evil:1" not in args["environment"]
    assert "X=y" in args["environment"]
    assert args["host_config"] == {"network_mode": "container:p1"}
    assert args["entrypoint"] == ["/bootstrap"]
    assert "command" not in args


class FakeEnvironment:
    def __init__(self, config: FunctionConfig, started: list[FakeEnvironment],
                 outcome: Outcome) -> None:
        self.config, self.broken, self.last_used = config, False, 0.0
        self.outcome, self.stopped, self.calls = outcome, False, 0
        started.append(self)

    def start(self) -> None:
        pass

    def invoke(self, invocation: Invocation) -> Ended:
        self.calls += 1
        if self.outcome.error_type == "Sandbox.Timedout":
            self.broken = True
        return Ended(self.outcome, (f"START RequestId: {invocation.request_id}",))

    def stop(self) -> None:
        self.stopped = True


def make_pool(outcome: Outcome, now: list[float], limit: int = 8
              ) -> tuple[Pool, list[FakeEnvironment]]:
    started: list[FakeEnvironment] = []
    pool = Pool(lambda config: FakeEnvironment(config, started, outcome), idle_seconds=60,
                limit=limit, clock=lambda: now[0])
    return pool, started


CONFIG = FunctionConfig(name="fn", arn=ARN, version="1", image="img")


def test_a_warm_environment_is_reused_and_stopped_when_idle() -> None:
    now = [0.0]
    pool, started = make_pool(Outcome("response", b"{}"), now)
    try:
        pool.invoke(CONFIG, invocation("a"))
        pool.invoke(CONFIG, invocation("b"))
        assert len(started) == 1
        assert started[0].calls == 2
        now[0] = 59.0
        assert pool.reap() == 0
        now[0] = 61.0
        assert pool.reap() == 1
        assert started[0].stopped
    finally:
        pool.close()


def test_a_timed_out_environment_is_stopped_at_once_and_the_limit_throttles() -> None:
    pool, started = make_pool(timed_out("a", 3), [0.0], limit=1)
    try:
        pool.invoke(CONFIG, invocation("a"))
        assert started[0].stopped
        assert pool.count() == 0
        slow = make_pool(Outcome("response", b"{}"), [0.0], limit=0)[0]
        with pytest.raises(ThrottledError):
            slow.invoke(CONFIG, invocation("b"))
        slow.close()
    finally:
        pool.close()


class FakeLambda:
    """GetAlias / GetFunction as moto answers them."""

    def __init__(self, package: str = "Image", weights: dict[str, float] | None = None
                 ) -> None:
        self.package, self.weights = package, weights

    def get_alias(self, FunctionName: str, Name: str) -> dict[str, Any]:  # noqa: N803
        routing = {"AdditionalVersionWeights": self.weights} if self.weights else None
        return {"Name": Name, "FunctionVersion": "1", "RoutingConfig": routing}

    def get_function(self, FunctionName: str, Qualifier: str) -> dict[str, Any]:  # noqa: N803
        if FunctionName != "fn":
            raise LookupError("ResourceNotFoundException")
        return get_function_answer("1" if Qualifier == "$LATEST" else Qualifier, self.package)


def front(outcome: Outcome, lam: FakeLambda, draw: float = 0.5) -> LambdaFront:
    return LambdaFront(lam, make_pool(outcome, [0.0])[0], draw=lambda: draw, clock=lambda: 0)


PATH = "/2015-03-31/functions/fn/invocations"


def headers_of(reply: Any) -> dict[str, str]:
    return dict(reply.headers)


def test_the_front_answers_invoke_on_an_image_function_as_lambda_does() -> None:
    fronted = front(Outcome("response", b'{"ok": true}'), FakeLambda(weights={"2": 0.3}),
                    draw=0.1)
    reply = fronted.answer("POST", f"{PATH}?Qualifier=live", [("X-Amz-Log-Type", "Tail")],
                           b"{}")
    assert reply is not None
    assert (reply.status, reply.body) == (200, b'{"ok": true}')
    headers = headers_of(reply)
    assert headers["X-Amz-Executed-Version"] == "2"  # 0.1 < 0.3: the weighted version
    assert "X-Amz-Function-Error" not in headers
    assert base64.b64decode(headers["X-Amz-Log-Result"]).startswith(b"START RequestId:")
    fronted.close()


def test_a_function_error_is_200_unhandled() -> None:
    fronted = front(timed_out("x", 3), FakeLambda())
    reply = fronted.answer("POST", PATH, [], b"{}")
    assert reply is not None
    assert reply.status == 200
    assert headers_of(reply)["X-Amz-Function-Error"] == "Unhandled"
    assert b"Task timed out after 3.00 seconds" in reply.body
    fronted.close()


@pytest.mark.parametrize(("method", "path", "lam"), [
    ("GET", PATH, FakeLambda()),
    ("POST", "/2015-03-31/functions/fn/configuration", FakeLambda()),
    ("POST", PATH, FakeLambda(package="Zip")),
    ("POST", "/2015-03-31/functions/unknown/invocations", FakeLambda()),
])
def test_what_is_not_an_image_invoke_goes_to_moto(method: str, path: str,
                                                  lam: FakeLambda) -> None:
    fronted = front(Outcome("response", b"{}"), lam)
    assert fronted.answer(method, path, [], b"{}") is None
    fronted.close()


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("DryRun", 204, None), ("Event", 202, None),
    ("Sometimes", 400, "InvalidParameterValueException"),
])
def test_invocation_types(kind: str, status: int, code: str | None) -> None:
    fronted = front(Outcome("response", b"{}"), FakeLambda())
    reply = fronted.answer("POST", PATH, [("X-Amz-Invocation-Type", kind)], b"{}")
    assert reply is not None
    assert reply.status == status
    assert headers_of(reply).get("x-amzn-ErrorType") == code
    fronted.close()


def test_the_log_result_is_the_last_4_kb() -> None:
    lines = tuple(f"line {i:05d}" for i in range(1000))
    tail = base64.b64decode(log_result(lines))
    assert len(tail) == 4096
    assert tail.endswith(b"line 00999\n")


def test_an_environment_that_cannot_start_is_a_service_exception() -> None:
    from release.local.lambda_.environment import StartError

    class Unpullable(FakeEnvironment):
        def start(self) -> None:
            raise StartError("CannotPullContainerError: manifest unknown")

    started: list[FakeEnvironment] = []
    pool = Pool(lambda config: Unpullable(config, started, Outcome("response", b"{}")))
    fronted = LambdaFront(FakeLambda(), pool, draw=lambda: 0.5, clock=lambda: 0)
    reply = fronted.answer("POST", PATH, [], b"{}")
    assert reply is not None
    assert (reply.status, headers_of(reply)["x-amzn-ErrorType"]) == (500, "ServiceException")
    assert b"manifest unknown" in reply.body
    assert pool.count() == 0
    fronted.close()
