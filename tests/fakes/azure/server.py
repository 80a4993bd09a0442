"""Local HTTPS fakes of Azure: Entra ID's token endpoint, ACR's token exchange, and the
management API for container apps. No Azure emulator exists; these answer the calls
`release` makes, in the shapes Azure documents, on 127.0.0.1 only, with a self-signed
certificate made at test time (its CA file is handed to clients to trust).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

APP = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                 r"Microsoft\.App/containerApps/(?P<app>[^/]+)(?P<rest>/revisions/[^/]+)?$")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written to ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fake-azure.crt", directory / "fake-azure.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class FakeAzure:
    """What the fakes hold and saw; tests script revisions through ``revision_states``."""

    url: str = ""
    ca_file: Path = Path()
    access_token: str = "entra-access-token-abcdef"
    refresh_token: str = "acr-refresh-token-123456"
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per new revision: the (provisioningState, runningState) it reports, one per GET
    revision_states: list[tuple[str, str]] = field(
        default_factory=lambda: [("Provisioning", "Processing"), ("Provisioned", "Running")])
    revision_error: str = ""
    # Entra ID tokens living this many seconds, each one new (None: access_token, 3599 s);
    # the APIs refuse one past its time as Azure does (401 ExpiredAuthenticationToken)
    token_lifetime: int | None = None
    issued: dict[str, float] = field(default_factory=dict)  # token -> when it expires
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    _revisions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def handle(self, method: str, path: str, body: bytes,
               headers: dict[str, str]) -> tuple[int, Any]:
        """One request: (status, JSON body)."""
        self.requests.append((method, path, body.decode(errors="replace")))
        parts = urlsplit(path)
        if parts.path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = parts.path.split("/")[1]
            base = f"{self.url}/{tenant}"
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "issuer": f"{base}/v2.0", "device_authorization_endpoint":
                         f"{base}/oauth2/v2.0/devicecode"}
        if parts.path.endswith("/oauth2/v2.0/token") and method == "POST":
            form = parse_qs(body.decode())
            if form.get("client_assertion_type") != [
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"] or \
                    not form.get("client_assertion"):
                return 400, {"error": "invalid_client"}
            return 200, self._token()
        if parts.path == "/oauth2/exchange" and method == "POST":
            form = parse_qs(body.decode())
            if self._refused((form.get("access_token") or [""])[0]):
                return 401, {"errors": [{"code": "UNAUTHORIZED"}]}
            return 200, {"refresh_token": self.refresh_token}
        match = APP.match(parts.path)
        if match:
            refused = self._refused(headers.get("authorization", "").removeprefix("Bearer "))
            if refused:
                return 401, {"error": {"code": refused}}
            return self._app(method, match, body)
        return 404, {"error": {"code": "NotFound", "message": path}}

    def _token(self) -> dict[str, Any]:
        if self.token_lifetime is None:
            return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                    "access_token": self.access_token}
        token = f"{self.access_token}-{len(self.issued) + 1}"
        self.issued[token] = time.time() + self.token_lifetime
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": token}

    def _refused(self, token: str) -> str | None:
        """None for a valid token, else the error code Azure answers with."""
        if self.token_lifetime is None:
            return None if token == self.access_token else "InvalidAuthenticationToken"
        if token not in self.issued:
            return "InvalidAuthenticationToken"
        return None if time.time() < self.issued[token] else "ExpiredAuthenticationToken"

    def _app(self, method: str, match: re.Match[str], body: bytes) -> tuple[int, Any]:
        app = self.apps.get(match["app"])
        if app is None:
            return 404, {"error": {"code": "ResourceNotFound",
                                   "message": f"container app {match['app']} not found"}}
        if match["rest"]:
            name = match["rest"].rsplit("/", 1)[-1]
            states = self._revisions.get(name)
            if states is None:
                return 404, {"error": {"code": "ContainerAppRevisionNotFound"}}
            provisioning, running = states.pop(0) if len(states) > 1 else states[0]
            props: dict[str, Any] = {"provisioningState": provisioning,
                                     "runningState": running, "template": app["template"]}
            if provisioning == "Failed" or running in {"Failed", "Degraded"}:
                props["provisioningError"] = self.revision_error
                props["runningStateDetails"] = self.revision_error
            return 200, {"name": name, "properties": props}
        if method == "PATCH":
            template = json.loads(body)["properties"]["template"]
            if "configuration" in json.loads(body)["properties"]:
                app["configuration"] = json.loads(body)["properties"]["configuration"]
            number = len(self._revisions) + 2
            revision = f"{match['app']}--r{number}"
            self._revisions[revision] = list(self.revision_states)
            app["template"] = template
            app["latestRevisionName"] = revision
            return 202, {}
        return 200, {"name": match["app"], "identity": app.get("identity", {"type": "None"}),
                     "properties": {"provisioningState": "Succeeded",
                                    "latestRevisionName": app["latestRevisionName"],
                                    "configuration": app.get("configuration", {}),
                                    "template": app["template"]}}


def serve(fake: FakeAzure, directory: Path) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the fakes over HTTPS on 127.0.0.1; returns the server to shut down."""
    cert, key = self_signed(directory)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data = fake.handle(self.command, self.path, body, headers)
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _reply  # noqa: N815 - http.server's naming

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.url = f"https://127.0.0.1:{server.server_address[1]}"
    fake.ca_file = cert
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
