"""Is an image one a Lambda function accepts? Pure: what the registry holds in, a refusal out.

Lambda takes a single-platform image manifest (Docker v2 schema 2 or OCI) whose config names
the function's architecture. It rejects an image index (a manifest list), which is what buildx
pushes for several platforms or with provenance/SBOM attestations, and it fails an image of
the other architecture only when the function is invoked: both are refused before any update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SINGLE = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_LIST, OCI_INDEX})

# Lambda's names for its architectures -> the OCI (GOARCH) names an image config carries.
ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
DEFAULT_ARCHITECTURE = "x86_64"  # what Lambda gives a function that names none


@dataclass(frozen=True, kw_only=True)
class ImageManifest:
    """What the registry holds for one image reference."""

    media_type: str
    architecture: str | None = None  # from the config blob (single manifests only)
    os: str | None = None
    platforms: tuple[str, ...] = ()  # an index's entries: "linux/amd64", "unknown/unknown"


@dataclass(frozen=True, kw_only=True)
class Subject:
    """The Lambda function about to get the image, and the service releasing it."""

    service: str
    function: str
    architectures: tuple[str, ...]  # the function's Architectures, as Lambda names them
    image: str


@dataclass(frozen=True)
class Refusal:
    """Why the image must not be given to the function, and the fix."""

    message: str
    hint: str


def wanted_platform(architectures: Sequence[str]) -> str | None:
    """The ``os/arch`` the function runs (None when Lambda names an architecture we do not
    know)."""
    arch = (list(architectures) or [DEFAULT_ARCHITECTURE])[0]
    oci = ARCHITECTURES.get(arch)
    return f"linux/{oci}" if oci else None


def _build_hint(platform: str, function_arch: str, also: str = "") -> str:
    return (f"build the image for one platform without attestations: under buildx "
            f"`--platform {platform} --provenance=false --sbom=false` (the function runs "
            f"{function_arch}), or give the service `platform: {platform}` in release.yaml"
            f"{also}; then rerun the release (nothing was updated)")


def check(subject: Subject, found: ImageManifest) -> Refusal | None:
    """None when Lambda accepts ``found`` for the function, else the refusal."""
    function_arch = (list(subject.architectures) or [DEFAULT_ARCHITECTURE])[0]
    platform = wanted_platform(subject.architectures)
    where = f"{subject.service}: image {subject.image} for Lambda function {subject.function}"
    if platform is None:
        return Refusal(f"{where}: the function's architecture {function_arch!r} is not one "
                       f"release knows ({', '.join(ARCHITECTURES)})",
                       "set the function's Architectures to x86_64 or arm64")
    hint = _build_hint(platform, function_arch)
    if found.media_type in INDEXES:
        listed = ", ".join(found.platforms) or "no entries"
        return Refusal(f"{where} is an image index ({found.media_type}; {listed}): Lambda "
                       "accepts only a single-platform image manifest", hint)
    if found.media_type not in SINGLE:
        return Refusal(f"{where} has media type {found.media_type or 'none'}: Lambda accepts "
                       f"only {DOCKER_MANIFEST} or {OCI_MANIFEST}", hint)
    have = f"{found.os or '?'}/{found.architecture or '?'}"
    if have != platform:
        lambda_name = {oci: name for name, oci in ARCHITECTURES.items()}.get(
            found.architecture or "") if found.os == "linux" else None
        also = f"; or set the function's Architectures to [{lambda_name}]" if lambda_name else ""
        return Refusal(f"{where} is built for {have} ({found.media_type}), the function runs "
                       f"{function_arch} ({platform})", _build_hint(platform, function_arch, also))
    return None
