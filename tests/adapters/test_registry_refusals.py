"""A registry refusing the login: the hint fits what was sent (no login at all, as an `oci`
registry sends, or credentials that were refused)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from release.adapters import registry
from release.errors import ReleaseError


class _Refuses(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("username", "password", "hint"), [
    ("", "", "use registry: {type: ecr, host: "),
    ("AWS", "token", "the role needs ecr:GetAuthorizationToken"),
])
def test_the_hint_fits_the_login_sent(host: str, username: str, password: str,
                                      hint: str) -> None:
    with pytest.raises(ReleaseError) as refused:
        registry.manifest_digest(registry.Login(host, username, password), "web", "k")
    assert refused.value.message == f"registry {host} refused the login (401)"
    assert refused.value.hint is not None
    assert hint in refused.value.hint
