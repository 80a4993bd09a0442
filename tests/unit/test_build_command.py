"""The BuildKit command line, table-tested for both builders, and what plain progress says.

Buildx cannot run on this machine (no plugin to install): its options are checked here by
the exact command line; the embedded builder's line also runs for real in tests/e2e.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from release.errors import UsageError
from release.planning import build_command as bc
from release.planning.build_command import Builder, BuildSpec

EMBEDDED = Builder("embedded", "/usr/bin/docker", "20.10.24")
BUILDX = Builder("buildx", "docker", "27.5.1", driver="docker-container")
BUILDX_DOCKER = Builder("buildx", "docker", "27.5.1", driver="docker")
REMOTE = Builder("buildx", "docker", "27.5.1", name="shared", driver="remote")
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"
CACHE = f"{IMAGE}:buildcache"

BASE = BuildSpec(context="/repo/app", dockerfile="/repo/app/Dockerfile", image=IMAGE,
                 tag="k1", platforms=("linux/amd64",))


def _argv(spec: BuildSpec, builder: Builder) -> str:
    return " ".join(bc.build_argv(spec, builder))


CASES = [
    ("embedded, the registry cache",
     BASE, EMBEDDED,
     "/usr/bin/docker build --progress plain --network host -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 -t {CACHE} --platform linux/amd64 --cache-from {CACHE} "
     "--build-arg BUILDKIT_INLINE_CACHE=1 /repo/app"),
    ("embedded, no cache: no inline cache either",
     replace(BASE, cache_registry=False), EMBEDDED,
     f"/usr/bin/docker build --progress plain --network host -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 /repo/app"),
    ("embedded, target, args, labels, secrets, extra tags, another cache image",
     replace(BASE, target="runtime", build_args={"BASE": "b:1"}, labels={"rev": "abc"},
             secrets=("id=tok,env=TOK", "id=npmrc,src=/tmp/x/0"), extra_tags=("v3-12",),
             cache_from=(f"{IMAGE}:k0",)), EMBEDDED,
     "/usr/bin/docker build --progress plain --network host -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 -t {IMAGE}:v3-12 -t {CACHE} --platform linux/amd64 --target runtime "
     "--build-arg BASE=b:1 --label rev=abc --secret id=tok,env=TOK "
     f"--secret id=npmrc,src=/tmp/x/0 --cache-from {IMAGE}:k0 --cache-from {CACHE} "
     "--build-arg BUILDKIT_INLINE_CACHE=1 /repo/app"),
    ("buildx docker-container: registry cache to and from, plain manifest, push",
     BASE, BUILDX,
     "docker buildx build --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 --cache-from type=registry,ref={CACHE} "
     f"--cache-to type=registry,ref={CACHE},mode=max --provenance=false --sbom=false --push "
     "/repo/app"),
    ("buildx for Lambda: no attestation index, one platform",
     replace(BASE, for_lambda=True, platforms=("linux/arm64",), metadata_file="/t/m.json"),
     BUILDX,
     "docker buildx build --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/arm64 --cache-from type=registry,ref={CACHE} "
     f"--cache-to type=registry,ref={CACHE},mode=max --provenance=false --sbom=false --push "
     "--metadata-file /t/m.json /repo/app"),
    ("buildx for ECS: two platforms with attestations",
     replace(BASE, platforms=("linux/amd64", "linux/arm64"), attestations=True), BUILDX,
     "docker buildx build --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 --platform linux/arm64 "
     f"--cache-from type=registry,ref={CACHE} --cache-to type=registry,ref={CACHE},mode=max "
     "--provenance=mode=max --sbom=true --push /repo/app"),
    ("buildx under GitHub Actions with the gha cache too",
     replace(BASE, cache_gha=True, github_actions=True), BUILDX,
     "docker buildx build --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 --cache-from type=registry,ref={CACHE} "
     "--cache-from type=gha,scope=app "
     f"--cache-to type=registry,ref={CACHE},mode=max --cache-to type=gha,scope=app,mode=max "
     "--provenance=false --sbom=false --push /repo/app"),
    ("gha asked for outside GitHub Actions: registry only",
     replace(BASE, cache_gha=True, github_actions=False, cache_registry=False), BUILDX,
     "docker buildx build --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 --provenance=false --sbom=false --push /repo/app"),
    ("buildx docker driver: host network, inline cache, load then docker push",
     BASE, BUILDX_DOCKER,
     "docker buildx build --progress plain --network host -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 -t {CACHE} --platform linux/amd64 --cache-from type=registry,ref={CACHE} "
     "--cache-to type=inline --provenance=false --sbom=false --load /repo/app"),
    ("buildx docker driver: no gha cache (it exports inline only)",
     replace(BASE, cache_gha=True, github_actions=True), BUILDX_DOCKER,
     "docker buildx build --progress plain --network host -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 -t {CACHE} --platform linux/amd64 --cache-from type=registry,ref={CACHE} "
     "--cache-to type=inline --provenance=false --sbom=false --load /repo/app"),
    ("a named remote builder",
     replace(BASE, cache_registry=False), REMOTE,
     "docker buildx build --builder shared --progress plain -f /repo/app/Dockerfile "
     f"-t {IMAGE}:k1 --platform linux/amd64 --provenance=false --sbom=false --push "
     "/repo/app"),
]


@pytest.mark.parametrize(("spec", "builder", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_build_argv(spec: BuildSpec, builder: Builder, expected: str) -> None:
    assert _argv(spec, builder) == expected


def test_only_the_embedded_builder_needs_docker_buildkit_set() -> None:
    assert bc.build_env(EMBEDDED) == {"DOCKER_BUILDKIT": "1"}
    assert bc.build_env(BUILDX) == {}


@pytest.mark.parametrize(("builder", "refs"), [
    (EMBEDDED, (f"{IMAGE}:k1", f"{IMAGE}:v1", CACHE)),
    (BUILDX_DOCKER, (f"{IMAGE}:k1", f"{IMAGE}:v1", CACHE)),
    (BUILDX, ()),  # the build pushes itself
])
def test_what_docker_push_sends_after_the_build(builder: Builder,
                                                refs: tuple[str, ...]) -> None:
    assert bc.extra_push_refs(replace(BASE, extra_tags=("v1",)), builder) == refs


@pytest.mark.parametrize(("spec", "builder", "says"), [
    (replace(BASE, platforms=("linux/amd64", "linux/arm64")), EMBEDDED,
     "several platforms need docker buildx"),
    (replace(BASE, attestations=True), EMBEDDED, "attestations need docker buildx"),
    (replace(BASE, attestations=True), BUILDX_DOCKER, "the docker-container driver"),
    (replace(BASE, for_lambda=True, platforms=("linux/amd64", "linux/arm64")), BUILDX,
     "a Lambda image has one platform"),
    (replace(BASE, for_lambda=True, attestations=True), BUILDX,
     "Lambda rejects images with attestations"),
])
def test_what_a_builder_cannot_make_is_refused_with_the_fix(spec: BuildSpec, builder: Builder,
                                                            says: str) -> None:
    with pytest.raises(UsageError) as caught:
        bc.build_argv(spec, builder)
    assert says in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize("secret", ["id=tok", "id=tok,value=hunter2", "env=TOK"])
def test_a_secret_goes_only_by_where_it_is_read(secret: str) -> None:
    with pytest.raises(ValueError, match="not a --secret without its value") as caught:
        bc.build_argv(replace(BASE, secrets=(secret,)), EMBEDDED)
    assert "hunter2" not in str(caught.value)


def test_a_quoted_secret_path_is_kept_as_written() -> None:
    quoted = 'id=npmrc,"src=/tmp/a,b/0"'
    assert bc.build_argv(replace(BASE, secrets=(quoted,)), EMBEDDED).count(quoted) == 1


PLAIN = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [stage-0 1/4] FROM docker.io/release-base/busybox:1
#4 DONE 0.0s
#9 importing cache manifest from 127.0.0.1:5001/app:buildcache
#9 ERROR: 127.0.0.1:5001/app:buildcache: not found
#6 [stage-0 2/4] COPY --chmod=0755 run.sh /run.sh
#6 CACHED
#7 [stage-0 3/4] RUN --mount=type=cache,target=/c make
#7 0.05 building
#7 DONE 1.1s
#8 [stage-0 4/4] RUN --mount=type=secret,id=tok true
#8 CACHED
#8 [stage-0 4/4] RUN --mount=type=secret,id=tok true
#10 exporting to image
#10 DONE 0.0s
"""


def test_progress_counts_cached_instruction_steps_and_unread_caches() -> None:
    found = bc.progress(PLAIN.splitlines())
    assert (found.cached, found.steps) == (2, 3)  # FROM and [internal] are not counted
    assert found.unreadable_caches == (
        "127.0.0.1:5001/app:buildcache: 127.0.0.1:5001/app:buildcache: not found",)


def test_progress_of_a_cold_build_and_of_nothing() -> None:
    assert bc.progress([]) == bc.Progress(0, 0)
    cold = [line for line in PLAIN.splitlines() if not line.endswith("CACHED")]
    assert bc.progress(cold).cached == 0


@pytest.mark.parametrize(("lines", "digest"), [
    (["The push refers to repository [r/app]", "abc: Pushed",
      "k1: digest: sha256:" + "a" * 64 + " size: 1149"], "sha256:" + "a" * 64),
    (["k1: digest: sha256:short size: 1"], None),
    (["error parsing HTTP 404 response body"], None),
])
def test_pushed_digest(lines: list[str], digest: str | None) -> None:
    assert bc.pushed_digest(lines) == digest


@pytest.mark.parametrize(("text", "version", "embedded"), [
    ("Docker version 20.10.24+dfsg1, build 297e128", (20, 10), True),
    ("Docker version 28.2.2, build e6534b4", (28, 2), False),
    ("Docker version 23.0.0, build e92dd87", (23, 0), False),
])
def test_client_version_and_embedded_buildkit(text: str, version: tuple[int, int],
                                              embedded: bool) -> None:
    assert bc.client_version(text) == version
    assert bc.has_embedded_buildkit(version) is embedded


def test_client_version_of_something_else() -> None:
    assert bc.client_version("podman version 4.3.1") is None


@pytest.mark.parametrize(("text", "driver"), [
    ("Name:          default\nDriver:        docker\n", "docker"),
    ("Name:   ci\nDriver: docker-container\nLast Activity: 2026\n", "docker-container"),
    ("nothing", ""),
])
def test_buildx_driver(text: str, driver: str) -> None:
    assert bc.buildx_driver(text) == driver


def test_builders_say_what_they_are() -> None:
    assert "embedded BuildKit" in EMBEDDED.describe()
    assert "DOCKER_BUILDKIT=1" in EMBEDDED.describe()
    assert "builder shared, driver remote" in REMOTE.describe()
    assert EMBEDDED.in_engine
    assert BUILDX_DOCKER.in_engine
    assert not BUILDX.in_engine
