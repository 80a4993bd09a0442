"""Which images a Lambda function accepts: media type and architecture against the function's
``Architectures``, as a table; and what a refusal says."""

from __future__ import annotations

import pytest

from release.planning.lambda_image import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageManifest,
    Subject,
    check,
    wanted_platform,
)

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/coral/restoration@sha256:" + "a" * 64


def _subject(*architectures: str) -> Subject:
    return Subject(service="coral-restoration", function="local-coral-restoration",
                   architectures=architectures, image=IMAGE)


def _single(media_type: str, arch: str | None, os: str | None = "linux") -> ImageManifest:
    return ImageManifest(media_type=media_type, architecture=arch, os=os)


CASES = [
    # (media type, image os/arch, function Architectures) -> refused because (None: accepted)
    (_single(DOCKER_MANIFEST, "amd64"), ("x86_64",), None),
    (_single(OCI_MANIFEST, "amd64"), ("x86_64",), None),
    (_single(DOCKER_MANIFEST, "arm64"), ("arm64",), None),
    (_single(OCI_MANIFEST, "arm64"), ("arm64",), None),
    (_single(DOCKER_MANIFEST, "amd64"), (), None),  # no Architectures: Lambda's x86_64
    (_single(OCI_MANIFEST, "arm64"), ("x86_64",), "is built for linux/arm64"),
    (_single(DOCKER_MANIFEST, "amd64"), ("arm64",), "is built for linux/amd64"),
    (_single(OCI_MANIFEST, "arm64"), (), "is built for linux/arm64"),
    (_single(OCI_MANIFEST, "amd64", "windows"), ("x86_64",), "is built for windows/amd64"),
    (_single(OCI_MANIFEST, None, None), ("x86_64",), "is built for ?/?"),
    (_single(OCI_MANIFEST, "s390x"), ("x86_64",), "is built for linux/s390x"),
    (ImageManifest(media_type=OCI_INDEX, platforms=("linux/amd64",
                                                    "unknown/unknown (attestation)")),
     ("x86_64",), "is an image index (application/vnd.oci.image.index.v1+json; linux/amd64, "
                  "unknown/unknown (attestation))"),
    (ImageManifest(media_type=DOCKER_LIST, platforms=("linux/amd64", "linux/arm64")),
     ("arm64",), "is an image index (application/vnd.docker.distribution.manifest.list"),
    (ImageManifest(media_type=OCI_INDEX), ("x86_64",), "; no entries): Lambda accepts only"),
    (_single("application/vnd.docker.distribution.manifest.v1+prettyjws", "amd64"),
     ("x86_64",), "has media type application/vnd.docker.distribution.manifest.v1+prettyjws"),
    (_single("", "amd64"), ("x86_64",), "has media type none"),
    (_single(DOCKER_MANIFEST, "amd64"), ("riscv64",), "architecture 'riscv64' is not one"),
]


@pytest.mark.parametrize(("found", "architectures", "refused"), CASES)
def test_what_lambda_accepts(found: ImageManifest, architectures: tuple[str, ...],
                             refused: str | None) -> None:
    refusal = check(_subject(*architectures), found)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused in refusal.message


def test_an_index_refusal_names_the_service_function_image_and_the_fix() -> None:
    refusal = check(_subject("x86_64"), ImageManifest(
        media_type=OCI_INDEX, platforms=("linux/amd64", "unknown/unknown (attestation)")))
    assert refusal is not None
    assert refusal.message.startswith(
        f"coral-restoration: image {IMAGE} for Lambda function local-coral-restoration is an "
        "image index")
    assert "Lambda accepts only a single-platform image manifest" in refusal.message
    assert refusal.hint == (
        "build the image for one platform without attestations: under buildx `--platform "
        "linux/amd64 --provenance=false --sbom=false` (the function runs x86_64), or give the "
        "service `platform: linux/amd64` in release.yaml; then rerun the release (nothing was "
        "updated)")


def test_a_wrong_architecture_refusal_offers_the_matching_function_architecture() -> None:
    refusal = check(_subject("x86_64"), _single(OCI_MANIFEST, "arm64"))
    assert refusal is not None
    assert refusal.message.endswith(
        "is built for linux/arm64 (application/vnd.oci.image.manifest.v1+json), the function "
        "runs x86_64 (linux/amd64)")
    assert "`--platform linux/amd64 --provenance=false --sbom=false`" in refusal.hint
    assert "or set the function's Architectures to [arm64]; then rerun" in refusal.hint
    other = check(_subject("x86_64"), _single(OCI_MANIFEST, "s390x"))
    assert other is not None
    assert "Architectures" not in other.hint  # Lambda has no s390x to offer


@pytest.mark.parametrize(("architectures", "platform"), [
    (("x86_64",), "linux/amd64"), (("arm64",), "linux/arm64"), ((), "linux/amd64"),
    (("mips",), None)])
def test_the_platform_a_function_runs(architectures: tuple[str, ...],
                                      platform: str | None) -> None:
    assert wanted_platform(architectures) == platform
