"""Fixtures for adapter tests: the local OIDC issuer and moto, in this process, on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc_helpers import REQUEST_TOKEN, RunningIssuer

from release.local import oidc_issuer


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> Iterator[RunningIssuer]:
    """The local cloud's OIDC issuer code, served from a thread; stopped at teardown."""
    claims = tmp_path / "oidc-claims.json"
    server = ThreadingHTTPServer(("127.0.0.1", 0), oidc_issuer.BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    made = oidc_issuer.Issuer(url, signing_key, REQUEST_TOKEN, claims)
    server.RequestHandlerClass = oidc_issuer.make_handler(made)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield RunningIssuer(made, f"{url}/token?api-version=2.0", claims)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode (the real HTTP path), on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()

