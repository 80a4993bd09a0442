"""The smoke check on the wire, against real HTTP(S) servers on 127.0.0.1: the Host a
listener rule wants, nothing else sent, redirects not followed, the body read with a bound,
TLS checked for the route's name; and the addresses it must never reach (private IPs not
named by DNS, link-local ever), with the resolver scripted so no test leaves the machine."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from release.adapters import smoke_http
from release.config.model import SmokeCheck
from release.planning.listener_rules import SmokeRequest

Handler = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A server on 127.0.0.1 answering with ``handle``; what it was sent is kept."""

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[dict[str, Any]] = []
        seen, outer = self.seen, handle

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({"path": self.path, "headers": dict(self.headers.items())})
                outer(self)

            def log_message(self, *_args: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.http.socket = tls.wrap_socket(self.http.socket, server_side=True)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(handle: Handler, tls: ssl.SSLContext | None = None) -> Server:
        started.append(Server(handle, tls))
        return started[-1]
    yield start
    for server in started:
        server.stop()


def answer(code: int, body: bytes = b"ok", headers: dict[str, str] | None = None) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(code)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
    return handle


def resolver(*answers: str) -> tuple[smoke_http.Resolve, list[str]]:
    """A getaddrinfo that answers the given addresses in turn (the last one repeated)."""
    asked: list[str] = []

    def resolve(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        address = answers[min(len(asked) - 1, len(answers) - 1)]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
    return resolve, asked


def check(request: SmokeRequest, resolve: smoke_http.Resolve | None = None,
          **fields: Any) -> tuple[bool, str]:
    ticks = iter(range(1000))
    return smoke_http.smoke(request, SmokeCheck(**{"timeout_seconds": 1, **fields}),
                            clock=lambda: float(next(ticks)), sleep=lambda _s: None,
                            **({"resolve": resolve} if resolve else {}))


def test_the_rule_host_is_sent_and_nothing_else(serve: Callable[..., Server]) -> None:
    server = serve(answer(200, b"all ok"))
    resolve, asked = resolver("127.0.0.1")
    passed, detail = check(SmokeRequest(f"http://lb.example.test:{server.port}/api/health",
                                        "web.example.test"), resolve, body_contains="ok")
    assert (passed, detail) == (True, "GET /api/health answered 200")
    assert asked == ["lb.example.test"]
    sent = server.seen[0]
    assert sent["path"] == "/api/health"
    assert sent["headers"]["Host"] == f"web.example.test:{server.port}"
    assert {name.lower() for name in sent["headers"]} == {
        "host", "user-agent", "accept", "accept-encoding"}


def test_a_redirect_is_an_answer_not_followed(serve: Callable[..., Server]) -> None:
    elsewhere = serve(answer(200))
    server = serve(answer(302, b"", {"Location": f"http://127.0.0.1:{elsewhere.port}/"}))
    passed, detail = check(SmokeRequest(f"http://127.0.0.1:{server.port}/"))
    assert not passed
    assert detail == "GET / answered 302 (wanted 200)"
    assert elsewhere.seen == []


def test_the_body_is_read_only_so_far(serve: Callable[..., Server]) -> None:
    body = b"x" * (smoke_http.BODY_LIMIT + 10) + b"MARKER"
    server = serve(answer(200, body))
    passed, detail = check(SmokeRequest(f"http://127.0.0.1:{server.port}/"),
                           body_contains="MARKER")
    assert not passed
    assert "without 'MARKER' in its body" in detail


def test_the_address_checked_is_the_one_connected(serve: Callable[..., Server]) -> None:
    """DNS rebinding: a second answer pointing at the metadata service is never asked."""
    server = serve(answer(503))
    resolve, asked = resolver("127.0.0.1", "169.254.169.254")
    passed, detail = check(SmokeRequest(f"http://lb.example.test:{server.port}/"), resolve,
                           timeout_seconds=3)
    assert not passed
    assert detail == "GET / answered 503 (wanted 200)"
    assert asked == ["lb.example.test"]
    assert len(server.seen) > 1  # tried again, each time at the address first checked


def test_a_silent_server_is_given_up_on(serve: Callable[..., Server]) -> None:
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(1)  # accepts the connection, never answers
    try:
        passed, detail = check(SmokeRequest(f"http://127.0.0.1:{quiet.getsockname()[1]}/"))
    finally:
        quiet.close()
    assert not passed
    assert "timed out" in detail


@pytest.mark.parametrize(("url", "answers", "why"), [
    ("http://10.0.0.5/", (), "10.0.0.5 is a private or link-local address"),
    ("http://192.168.1.1:8080/", (), "private or link-local"),
    ("http://169.254.169.254/latest/meta-data/", (), "private or link-local"),
    ("http://[::ffff:169.254.169.254]/", (), "private or link-local"),
    ("http://[fd00:ec2::254]/", (), "private or link-local"),
    ("http://0.0.0.0/", (), "private or link-local"),
    ("http://meta.example.test/", ("169.254.169.254",), "a link-local or reserved address"),
    ("http://meta6.example.test/", ("fd00:ec2::254",), "a link-local or reserved address"),
    ("http://mapped.example.test/", ("::ffff:169.254.169.254",), "link-local or reserved"),
    ("http://167772161/", (), "neither an IP address nor a DNS name"),
    ("http://10.1/", (), "neither an IP address nor a DNS name"),
    ("ftp://lb.example.test/", (), "not an http(s) URL"),
    ("http://lb.example.test:99999/", (), "not an http(s) URL"),
])
def test_addresses_never_reached(url: str, answers: tuple[str, ...], why: str) -> None:
    resolve, _ = resolver(*(answers or ("127.0.0.1",)))
    passed, detail = check(SmokeRequest(url), resolve)
    assert not passed
    assert why in detail


def test_an_internal_load_balancer_name_may_resolve_to_a_private_address() -> None:
    resolve, _ = resolver("10.0.3.17")
    assert smoke_http.refused("internal-web-1.eu-west-1.elb.amazonaws.com", 80, resolve) == \
        ("10.0.3.17", None)


def _tls(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, Path]:
    """A CA and a certificate for ``name`` signed by it; (the server's context, CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, issuer: str, *, ca: bool, san: str | None) -> x509.Certificate:
        made = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            made = made.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]),
                                      critical=False)
        return made.sign(key, hashes.SHA256())

    ca = certificate("smoke test CA", "smoke test CA", ca=True, san=None)
    leaf = certificate(name, "smoke test CA", ca=False, san=name)
    ca_file, chain, key_file = tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return context, ca_file


def test_tls_is_checked_for_the_route_name(serve: Callable[..., Server], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Reached at the balancer's address, the certificate is checked for the name the
    rule's host-header wants (and sent as the TLS server name), never skipped."""
    context, ca_file = _tls(tmp_path, "web.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server = serve(answer(200), context)
    url = f"https://lb.example.test:{server.port}/health"
    resolve, _ = resolver("127.0.0.1")
    assert check(SmokeRequest(url, "web.example.test"), resolve) == (
        True, "GET /health answered 200")
    passed, detail = check(SmokeRequest(url), resolve)  # the balancer's own name: no match
    assert not passed
    assert "certificate" in detail.lower()
