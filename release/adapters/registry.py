"""The OCI distribution API of a registry: does a tag exist, and what digest does it name."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass

from release.errors import ReleaseError

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
TIMEOUT = 15


@dataclass(frozen=True)
class Login:
    """Registry credentials (for ECR: the token from GetAuthorizationToken)."""

    host: str
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in a debugger or a log
        return f"Login(host={self.host!r}, username={self.username!r}, password=***)"


def scheme(host: str) -> str:
    """Docker's rule: loopback registries speak plain HTTP, everything else HTTPS."""
    name = host.rsplit(":", 1)[0]
    return "http" if name in {"localhost", "127.0.0.1", "[::1]"} else "https"


def manifest_digest(login: Login, repository: str, tag: str) -> str | None:
    """The digest ``repository:tag`` points at, or None when the tag does not exist."""
    url = f"{scheme(login.host)}://{login.host}/v2/{repository}/manifests/{tag}"
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - scheme fixed above
    if login.username:  # an `oci` registry may be anonymous
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    request.add_header("Accept", MANIFEST_TYPES)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            digest: str | None = response.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        exc.close()  # the error holds the response; close its socket
        if exc.code == 404:
            return None
        if exc.code in {401, 403}:
            raise ReleaseError(f"registry {login.host} refused the login ({exc.code})",
                               "check the registry credentials (for ECR: the role needs "
                               "ecr:GetAuthorizationToken)") from None
        raise ReleaseError(f"registry {login.host} answered {exc.code} for "
                           f"{repository}:{tag}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReleaseError(f"cannot reach registry {login.host}: {reason}",
                           "for the local cloud run `release local up`") from None
    if not digest:
        raise ReleaseError(f"registry {login.host} gave no digest for {repository}:{tag}")
    return digest
