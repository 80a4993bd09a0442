"""RS256 JWTs shaped like GitHub Actions' OIDC tokens, signed with a local key."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TOKEN_LIFETIME = 300  # seconds, as GitHub's
DEFAULT_AUDIENCE = "sts.amazonaws.com"


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE wants it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The signing key stored at ``path`` (PEM, mode 0600), made on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError(f"{path} does not hold an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    Path(tmp).replace(path)
    return key


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """The JWK of ``public_key``, with ``kid`` set to its RFC 7638 thumbprint."""
    numbers = public_key.public_numbers()
    members = {"e": b64url(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers.n))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = b64url(hashlib.sha256(canonical).digest())
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """A compact JWS (RS256) of ``claims``."""
    header = {"alg": "RS256", "typ": "JWT", "kid": public_jwk(key.public_key())["kid"]}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


@dataclass(frozen=True)
class Workflow:
    """The GitHub context a token describes; overridable from ``oidc-claims.json``."""

    repository: str = "local/release"
    ref: str = "refs/heads/main"
    sha: str = "0" * 40
    environment: str | None = None
    run_id: str = "1"
    run_number: str = "1"
    run_attempt: str = "1"
    actor: str = "local"
    event_name: str = "workflow_dispatch"
    workflow: str = "release"
    workflow_file: str = ".github/workflows/release.yml"

    @property
    def subject(self) -> str:
        """``repo:OWNER/REPO:environment:ENV`` when in an environment, else ``...:ref:REF``."""
        if self.environment:
            return f"repo:{self.repository}:environment:{self.environment}"
        return f"repo:{self.repository}:ref:{self.ref}"


def github_claims(
    workflow: Workflow, issuer: str, audience: str, now: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """Claims as GitHub puts them in an Actions OIDC token; ``extra`` overrides any of them."""
    owner = workflow.repository.split("/", 1)[0]
    job_workflow_ref = f"{workflow.repository}/{workflow.workflow_file}@{workflow.ref}"
    claims: dict[str, Any] = {
        "jti": hashlib.sha256(f"{now}:{os.urandom(8).hex()}".encode()).hexdigest()[:32],
        "sub": workflow.subject,
        "aud": audience,
        "ref": workflow.ref,
        "ref_type": "branch" if workflow.ref.startswith("refs/heads/") else "tag",
        "sha": workflow.sha,
        "repository": workflow.repository,
        "repository_owner": owner,
        "run_id": workflow.run_id,
        "run_number": workflow.run_number,
        "run_attempt": workflow.run_attempt,
        "actor": workflow.actor,
        "event_name": workflow.event_name,
        "workflow": workflow.workflow,
        "workflow_ref": job_workflow_ref,
        "job_workflow_ref": job_workflow_ref,
        "runner_environment": "self-hosted",
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
    }
    if workflow.environment:
        claims["environment"] = workflow.environment
    claims.update(extra)
    return claims


def workflow_from_file(data: dict[str, Any]) -> tuple[Workflow, dict[str, Any]]:
    """Split a claims file into the Workflow fields it sets and raw claims to add."""
    known = set(Workflow.__dataclass_fields__)
    fields = {key: str(value) for key, value in data.items() if key in known and value is not None}
    extra = {key: value for key, value in data.items() if key not in known}
    return Workflow(**fields), extra
