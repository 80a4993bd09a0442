"""The GitHub OIDC token request, against the local cloud's issuer served in-process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from oidc_helpers import REQUEST_TOKEN, RunningIssuer

from release.adapters import oidc
from release.errors import ReleaseError


class Sleeps:
    """Records every wait instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def source(environ: dict[str, str], sleeps: Sleeps, attempts: int = 4) -> oidc.TokenSource:
    return oidc.TokenSource.from_environ(
        environ, oidc.Retry(attempts=attempts, sleep=sleeps, jitter=lambda: 0.5))


def test_token_carries_the_audience_asked_for(issuer: RunningIssuer) -> None:
    sleeps = Sleeps()
    token = source(issuer.environ(), sleeps)(oidc.AWS_AUDIENCE)
    claims = oidc.unverified_claims(token)
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"].startswith("repo:")
    assert sleeps.calls == []


def test_audience_is_appended_to_a_url_with_a_query() -> None:
    made = oidc.TokenSource("http://h/token?api-version=2.0", "b")
    assert made.url_for("api://AzureADTokenExchange") == (
        "http://h/token?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange")
    assert oidc.TokenSource("http://h/token", "b").url_for("x") == "http://h/token?audience=x"


def test_missing_request_url_shows_the_permissions_yaml() -> None:
    with pytest.raises(ReleaseError) as caught:
        oidc.TokenSource.from_environ({})
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in caught.value.message
    assert "permissions:\n  id-token: write\n  contents: read" in (caught.value.hint or "")


def test_missing_request_token_is_explained() -> None:
    with pytest.raises(ReleaseError, match="ACTIONS_ID_TOKEN_REQUEST_TOKEN is empty"):
        oidc.TokenSource.from_environ({"ACTIONS_ID_TOKEN_REQUEST_URL": "http://h/t"})


def test_wrong_bearer_fails_at_once_with_401(issuer: RunningIssuer) -> None:
    sleeps = Sleeps()
    environ = {**issuer.environ(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN + "x"}
    with pytest.raises(ReleaseError, match=r"refused the request \(401\)") as caught:
        source(environ, sleeps)(oidc.AWS_AUDIENCE)
    assert "valid only inside the job" in (caught.value.hint or "")
    assert sleeps.calls == []  # a refusal is not retried


def test_issuer_down_is_retried_with_backoff_then_explained() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]  # closed again when the block ends: nothing listens
    sleeps = Sleeps()
    environ = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{port}/token?api-version=2.0",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    with pytest.raises(ReleaseError, match="after 4 attempts") as caught:
        source(environ, sleeps)(oidc.AWS_AUDIENCE)
    assert "githubstatus" in (caught.value.hint or "")
    assert sleeps.calls == [0.75, 1.5, 3.0]  # half fixed + half jitter (0.5) of 1, 2, 4


class _Flaky(BaseHTTPRequestHandler):
    failures = 2
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        if type(self).seen <= self.failures:
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"value": "a.eyJhdWQiOiJ4In0.c"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    _Flaky.seen = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    server.shutdown()
    server.server_close()


def test_server_errors_are_retried_until_a_token_comes(flaky: str) -> None:
    sleeps = Sleeps()
    environ = {"ACTIONS_ID_TOKEN_REQUEST_URL": flaky, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    token = source(environ, sleeps)("x")
    assert oidc.unverified_claims(token) == {"aud": "x"}
    assert len(sleeps.calls) == 2


def test_delay_grows_and_is_capped() -> None:
    retry = oidc.Retry(base=1, cap=8, jitter=lambda: 1.0)
    assert [retry.delay(n) for n in range(5)] == [1, 2, 4, 8, 8]
    assert oidc.Retry(jitter=lambda: 0.0).delay(0) == 0.5


@pytest.mark.parametrize("token", ["not-a-jwt", "a.!!!.c", "a.WzFd.c"])
def test_bad_tokens_are_refused_clearly(token: str) -> None:
    with pytest.raises(ReleaseError, match="OIDC token"):
        oidc.unverified_claims(token)


def test_expired_token_is_refused_before_any_cloud_call() -> None:
    with pytest.raises(ReleaseError, match="expired 100s ago"):
        oidc.check_not_expired({"exp": 1000}, 1100.0)
    oidc.check_not_expired({"exp": 1000}, 999.0)
