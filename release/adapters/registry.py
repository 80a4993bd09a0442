"""The OCI distribution API of a registry: does a tag exist, what digest does it name, and
what kind of image (index or single manifest, which platform) is behind a digest."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from release.errors import ReleaseError
from release.planning.lambda_image import ImageManifest

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
                               _refused_hint(login)) from None
        raise ReleaseError(f"registry {login.host} answered {exc.code} for "
                           f"{repository}:{tag}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReleaseError(f"cannot reach registry {login.host}: {reason}",
                           "for the local cloud run `release local up`") from None
    if not digest:
        raise ReleaseError(f"registry {login.host} gave no digest for {repository}:{tag}")
    return digest


MANIFEST_MAX = 4 << 20  # manifests and image configs are a few KiB; refuse anything larger
ATTESTATION = "attestation-manifest"  # buildx's vnd.docker.reference.type for its attestations


@dataclass(frozen=True)
class Endpoint:
    """Where a registry's API answers: ``scheme(host)`` unless given (ACR: always HTTPS, with
    its own trust)."""

    origin: str | None = None  # "https://host"; None: by ``scheme(login.host)``
    context: ssl.SSLContext | None = None


def image_manifest(login: Login, repository: str, reference: str,
                   endpoint: Endpoint | None = None) -> ImageManifest:
    """The media type of ``repository@reference`` and, for a single image manifest, the
    ``os``/``architecture`` of its config: one GET of the manifest, one of the config blob.

    Each body is read bounded (``MANIFEST_MAX``) and, when named by digest, checked against it.
    """
    endpoint = endpoint or Endpoint()
    origin = endpoint.origin or f"{scheme(login.host)}://{login.host}"
    base = f"{origin}/v2/{repository}"
    body, header_type = _get(login, f"{base}/manifests/{reference}", endpoint,
                             f"{repository}@{reference}", accept=MANIFEST_TYPES)
    manifest = _json(body, login, f"the manifest of {repository}@{reference}")
    media_type = str(manifest.get("mediaType") or header_type or "")
    if isinstance(manifest.get("manifests"), list):  # an index / manifest list
        return ImageManifest(media_type=media_type, platforms=tuple(
            _platform(entry) for entry in manifest["manifests"] if isinstance(entry, dict)))
    config = manifest.get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        return ImageManifest(media_type=media_type)  # not an image manifest: the caller judges
    blob, _ = _get(login, f"{base}/blobs/{digest}", endpoint, f"{repository}@{digest}",
                   accept="*/*")
    found = _json(blob, login, f"the image config {digest} of {repository}")
    arch, system = found.get("architecture"), found.get("os")
    return ImageManifest(media_type=media_type,
                         architecture=arch if isinstance(arch, str) else None,
                         os=system if isinstance(system, str) else None)


def _platform(entry: dict[str, Any]) -> str:
    """``os/arch[/variant]`` of one index entry, marked when it is an attestation."""
    found, annotations = entry.get("platform"), entry.get("annotations")
    found = found if isinstance(found, dict) else {}
    parts = [str(found.get(k)) for k in ("os", "architecture", "variant") if found.get(k)]
    kind = annotations.get("vnd.docker.reference.type") if isinstance(annotations, dict) else None
    return ("/".join(parts) or "no platform") + (" (attestation)" if kind == ATTESTATION else "")


def _get(login: Login, url: str, endpoint: Endpoint, what: str, *,
         accept: str) -> tuple[bytes, str | None]:
    """GET ``url``: its body (at most ``MANIFEST_MAX`` bytes, checked against the digest the
    URL names) and its Content-Type."""
    request = urllib.request.Request(url)  # noqa: S310 - the scheme is http(s), fixed above
    if login.username:
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        # Not sent on after a redirect: ECR answers blob GETs with a pre-signed S3 URL, which
        # refuses a second credential (and the login must reach no other host).
        request.add_unredirected_header("Authorization", f"Basic {token}")
    request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT,  # noqa: S310
                                    context=endpoint.context) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MANIFEST_MAX:
                raise _too_large(login, what)
            body: bytes = response.read(MANIFEST_MAX + 1)
            content_type = str(response.headers.get("Content-Type") or "").split(";")[0]
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in {401, 403}:
            raise ReleaseError(f"registry {login.host} refused the login ({exc.code}) reading "
                               f"{what}", _refused_hint(login, "ecr:BatchGetImage and "
                                                        "ecr:GetDownloadUrlForLayer")) from None
        raise ReleaseError(f"registry {login.host} answered {exc.code} for {what}",
                           "rerun the release: an image missing from the registry is built "
                           "again" if exc.code == 404 else None) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReleaseError(f"cannot reach registry {login.host}: {reason}",
                           "for the local cloud run `release local up`") from None
    if len(body) > MANIFEST_MAX:
        raise _too_large(login, what)
    _, _, named = what.rpartition("@")
    if named.startswith("sha256:") and "sha256:" + hashlib.sha256(body).hexdigest() != named:
        raise ReleaseError(f"registry {login.host} answered {what} with content of another "
                           "digest", "check what answers at the registry's address")
    return body, content_type.strip() or None


def _too_large(login: Login, what: str) -> ReleaseError:
    return ReleaseError(f"registry {login.host} answered {what} with more than "
                        f"{MANIFEST_MAX >> 20} MiB: not a manifest or an image config")


def _json(body: bytes, login: Login, what: str) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise ReleaseError(f"registry {login.host} answered {what} with something that is "
                           "not a JSON object")
    return found


def _refused_hint(login: Login, permissions: str = "ecr:GetAuthorizationToken") -> str:
    """What to check when a registry refuses the login: an anonymous login (an ``oci``
    registry) to the local cloud's registry needs its ECR token; else the credentials."""
    if not login.username and not login.password:
        return ("this registry wants a login, and an oci registry gets none: for the local "
                "cloud's registry use registry: {type: ecr, host: " + login.host + "} (the "
                "password comes from its ECR API)")
    return f"check the registry credentials (for ECR: the role needs {permissions})"
