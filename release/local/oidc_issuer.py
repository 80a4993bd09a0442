"""An OIDC issuer that answers like GitHub Actions' token endpoint, on 127.0.0.1 only.

Run as ``python -m release.local.oidc_issuer --state-dir DIR --port 5002`` (``up`` does);
the bearer token callers must present comes from ``RELEASE_OIDC_REQUEST_TOKEN``.

- ``GET /token?audience=AUD`` + ``Authorization: Bearer <request token>`` -> ``{"value": JWT}``
- ``GET /.well-known/openid-configuration`` and ``GET /.well-known/jwks``
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from release.local import oidc_tokens

KEY_FILE = "oidc-signing-key.pem"
CLAIMS_FILE = "oidc-claims.json"
TOKEN_ENV = "RELEASE_OIDC_REQUEST_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Issuer:
    """What the issuer signs with and whom it answers."""

    url: str
    key: rsa.RSAPrivateKey
    request_token: str
    claims_file: Path
    clock: Callable[[], float] = time.time

    def discovery(self) -> dict[str, Any]:
        """The ``/.well-known/openid-configuration`` document."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                                 "repository", "repository_owner", "run_id", "run_attempt",
                                 "sha", "environment", "job_workflow_ref", "workflow"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    def jwks(self) -> dict[str, Any]:
        """The ``/.well-known/jwks`` document."""
        return {"keys": [oidc_tokens.public_jwk(self.key.public_key())]}

    def authorized(self, header: str | None) -> bool:
        """True when ``header`` is ``Bearer <request token>`` (scheme case-insensitive)."""
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.request_token.encode()
        )

    def token(self, audience: str) -> str:
        """A fresh signed token for ``audience``, with claims from the claims file."""
        data: dict[str, Any] = {}
        if self.claims_file.exists():
            data = json.loads(self.claims_file.read_text(encoding="utf-8"))
        workflow, extra = oidc_tokens.workflow_from_file(data)
        claims = oidc_tokens.github_claims(workflow, self.url, audience, int(self.clock()), extra)
        return oidc_tokens.sign(claims, self.key)


def make_handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``issuer``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "release-local-oidc/1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(HTTPStatus.OK, issuer.discovery())
            elif parts.path == "/.well-known/jwks":
                self._json(HTTPStatus.OK, issuer.jwks())
            elif parts.path == "/token":
                self._token(parse_qs(parts.query))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"message": "Not Found"})

        def _token(self, query: dict[str, list[str]]) -> None:
            if not issuer.authorized(self.headers.get("Authorization")):
                self._json(HTTPStatus.UNAUTHORIZED, {"message": "Bad credentials"})
                return
            audience = query.get("audience", [oidc_tokens.DEFAULT_AUDIENCE])[-1]
            try:
                value = issuer.token(audience)
            except (OSError, ValueError, TypeError) as exc:
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": str(exc)})
                return
            self._json(HTTPStatus.OK, {"count": 1, "value": value})

        def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m release.local.oidc_issuer")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args(argv)
    request_token = os.environ.get(TOKEN_ENV, "")
    if not request_token:
        parser.error(f"{TOKEN_ENV} must be set")
    issuer = Issuer(
        url=f"http://{args.host}:{args.port}",
        key=oidc_tokens.load_or_create_key(args.state_dir / KEY_FILE),
        request_token=request_token,
        claims_file=args.state_dir / CLAIMS_FILE,
    )
    server = ThreadingHTTPServer((args.host, args.port), make_handler(issuer))
    sys.stderr.write(f"oidc issuer listening on {issuer.url}\n")
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
