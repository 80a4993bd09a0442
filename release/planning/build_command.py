"""The BuildKit command line of one image, and what its plain progress output tells.

Pure: a frozen :class:`BuildSpec` and the :class:`Builder` found on this machine in, an
argv list out. Two builders, one path: ``docker buildx build`` (GitHub's runners), or the
engine's embedded BuildKit through a docker CLI that still has it built in
(``DOCKER_BUILDKIT=1 docker build``, Debian's 20.10 client).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from release.errors import UsageError

BuilderKind = Literal["buildx", "embedded"]
CACHE_TAG = "buildcache"
# Drivers that run BuildKit inside the engine: no cache export but inline, no multi-platform.
ENGINE_DRIVERS = frozenset({"docker", ""})


@dataclass(frozen=True)
class Builder:
    """The docker CLI that builds, and how."""

    kind: BuilderKind
    docker: str  # path of the docker CLI
    version: str = ""  # its client version
    name: str | None = None  # buildx builder (--builder / BUILDX_BUILDER), None: the default
    driver: str = ""  # buildx driver: docker | docker-container | remote | kubernetes

    @property
    def in_engine(self) -> bool:
        """True when BuildKit runs inside the Docker engine (the image lands in it)."""
        return self.kind == "embedded" or self.driver in ENGINE_DRIVERS

    def describe(self) -> str:
        """One line for the log: which builder, where."""
        if self.kind == "embedded":
            return (f"embedded BuildKit of the engine through {self.docker} {self.version} "
                    "(DOCKER_BUILDKIT=1)")
        return (f"docker buildx ({self.docker} {self.version}, builder "
                f"{self.name or 'default'}, driver {self.driver or 'docker'})")


@dataclass(frozen=True, kw_only=True)
class BuildSpec:
    """Everything one build needs, decided before the build runs."""

    context: str
    dockerfile: str
    image: str  # host/repository
    tag: str  # the build key
    extra_tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    target: str | None = None
    secrets: tuple[str, ...] = ()  # --secret values: id=ID,env=NAME | id=ID,src=PATH (no value)
    cache_from: tuple[str, ...] = ()  # registry images to read layers from
    cache_registry: bool = True  # read and write <image>:buildcache
    cache_gha: bool = False  # buildx under GitHub Actions: type=gha too
    github_actions: bool = False  # under Actions, its cache service reachable (runtime token)
    for_lambda: bool = False  # one platform, a plain manifest: no attestation index
    attestations: bool = False  # provenance and SBOM (buildx, not for Lambda)
    metadata_file: str | None = None  # buildx writes the pushed digest here

    @property
    def refs(self) -> tuple[str, ...]:
        """Every reference the image is tagged with, the build key first."""
        return tuple(dict.fromkeys(f"{self.image}:{t}" for t in (self.tag, *self.extra_tags)))

    @property
    def cache_ref(self) -> str:
        """The registry reference holding the service's build cache."""
        return f"{self.image}:{CACHE_TAG}"


def pushes_itself(builder: Builder) -> bool:
    """True when the build pushes (buildx outside the engine); else ``docker push`` follows."""
    return not builder.in_engine


def check(spec: BuildSpec, builder: Builder) -> None:
    """Refuse what the builder cannot make, with the fix."""
    if spec.for_lambda and len(spec.platforms) > 1:
        raise UsageError(f"{spec.image}: a Lambda image has one platform, not "
                         f"{', '.join(spec.platforms)}",
                         "keep one entry in platforms: (the function's architecture)")
    if spec.for_lambda and spec.attestations:
        raise UsageError(f"{spec.image}: Lambda rejects images with attestations",
                         "remove attestations: true from a service with a lambda target")
    wants = [what for what, asked in (("several platforms", len(spec.platforms) > 1),
                                      ("attestations", spec.attestations)) if asked]
    if wants and builder.kind == "embedded":
        raise UsageError(f"{spec.image}: {' and '.join(wants)} need docker buildx; "
                         f"this machine builds with {builder.describe()}",
                         "install docker buildx (docker/setup-buildx-action on GitHub), or "
                         "build one platform without attestations")
    if wants and builder.in_engine:
        raise UsageError(f"{spec.image}: {' and '.join(wants)} need a buildx builder with "
                         f"the docker-container driver, not {builder.driver or 'docker'}",
                         "create one (docker buildx create --use, or "
                         "docker/setup-buildx-action), or name it in builder:")


def build_argv(spec: BuildSpec, builder: Builder) -> list[str]:
    """The command line that builds ``spec`` with ``builder`` (checked first)."""
    check(spec, builder)
    argv = [builder.docker, *(["buildx", "build"] if builder.kind == "buildx" else ["build"])]
    if builder.kind == "buildx" and builder.name:
        argv += ["--builder", builder.name]
    argv += ["--progress", "plain"]
    if builder.in_engine:  # no bridge network: RUN steps use the host's (as the classic one)
        argv += ["--network", "host"]
    argv += ["-f", spec.dockerfile]
    for ref in spec.refs + _local_cache_ref(spec, builder):
        argv += ["-t", ref]
    for platform in spec.platforms:
        argv += ["--platform", platform]
    if spec.target:
        argv += ["--target", spec.target]
    for name, value in spec.build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in spec.labels.items():
        argv += ["--label", f"{name}={value}"]
    for secret in spec.secrets:
        argv += ["--secret", _secret(secret)]
    argv += _cache(spec, builder)
    if builder.kind == "buildx":
        argv += _attestations(spec)
        argv += ["--push"] if pushes_itself(builder) else ["--load"]
        if spec.metadata_file and pushes_itself(builder):
            argv += ["--metadata-file", spec.metadata_file]
    return [*argv, spec.context]


def _local_cache_ref(spec: BuildSpec, builder: Builder) -> tuple[str, ...]:
    # In the engine, the image itself carries the inline cache: tagged :buildcache, pushed.
    return (spec.cache_ref,) if builder.in_engine and spec.cache_registry else ()


def build_env(builder: Builder) -> dict[str, str]:
    """Environment the build command needs beyond the run's own."""
    return {"DOCKER_BUILDKIT": "1"} if builder.kind == "embedded" else {}


def _secret(secret: str) -> str:
    # A value never goes on a command line: only where the CLI reads it (env= or src=).
    [parts] = list(csv.reader([secret])) or [[]]  # the CLI reads it as one CSV record
    fields = dict(part.partition("=")[::2] for part in parts)
    if "id" not in fields or not ({"env", "src"} & set(fields)) or set(fields) - {
            "id", "env", "src", "type", "required"}:
        raise ValueError(f"not a --secret without its value: id={fields.get('id')}")
    return secret


def _cache(spec: BuildSpec, builder: Builder) -> list[str]:
    froms = list(spec.cache_from) + ([spec.cache_ref] if spec.cache_registry else [])
    froms = list(dict.fromkeys(froms))
    if builder.kind == "embedded":
        # The embedded builder reads a registry image's inline cache and writes its own into
        # the image it builds; the image is then pushed as :buildcache too.
        args = [arg for ref in froms for arg in ("--cache-from", ref)]
        return [*args, "--build-arg", "BUILDKIT_INLINE_CACHE=1"] if froms else args
    args = [arg for ref in froms for arg in ("--cache-from", f"type=registry,ref={ref}")]
    if builder.in_engine:  # the docker driver: registry images in, inline cache out
        return [*args, "--cache-to", "type=inline"] if froms else args
    gha = spec.cache_gha and spec.github_actions
    scope = spec.image.rsplit("/", 1)[-1]
    if gha:
        args += ["--cache-from", f"type=gha,scope={scope}"]
    if spec.cache_registry:
        args += ["--cache-to", f"type=registry,ref={spec.cache_ref},mode=max"]
    if gha:
        args += ["--cache-to", f"type=gha,scope={scope},mode=max"]
    return args


def _attestations(spec: BuildSpec) -> list[str]:
    if spec.attestations and not spec.for_lambda:
        return ["--provenance=mode=max", "--sbom=true"]
    return ["--provenance=false", "--sbom=false"]  # a plain manifest: what Lambda accepts


def extra_push_refs(spec: BuildSpec, builder: Builder) -> tuple[str, ...]:
    """References ``docker push`` sends after an in-engine build: every tag, and the image
    as ``:buildcache`` (its inline cache is the next build's) when the registry cache is on."""
    if pushes_itself(builder):
        return ()
    return spec.refs + _local_cache_ref(spec, builder)


# What the plain progress output says.
_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED\s*$")
_CACHE_IMPORT = re.compile(r"^#(\d+) importing cache manifest from (\S+)")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_PUSHED = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+")


@dataclass(frozen=True)
class Progress:
    """What a build's plain progress output said about its steps and its cache."""

    steps: int  # Dockerfile instructions run or reused (FROM and [internal] not counted)
    cached: int  # of them, reused from a cache
    unreadable_caches: tuple[str, ...] = ()  # "ref: why" for each cache import that failed


def progress(lines: Iterable[str]) -> Progress:
    """Count the instruction steps and the cached ones; note each cache that failed."""
    steps: set[str] = set()
    cached: set[str] = set()
    imports: dict[str, str] = {}
    failed: list[str] = []
    for line in lines:
        if match := _STEP.match(line):
            stage, text = match.group(2), match.group(3)
            if stage != "internal" and not stage.startswith("auth") and not text.startswith(
                    "FROM "):
                steps.add(match.group(1))
        elif match := _CACHED.match(line):
            cached.add(match.group(1))
        elif match := _CACHE_IMPORT.match(line):
            imports[match.group(1)] = match.group(2)
        elif (match := _ERROR.match(line)) and match.group(1) in imports:
            failed.append(f"{imports[match.group(1)]}: {match.group(2)}")
    return Progress(len(steps), len(cached & steps), tuple(failed))


def pushed_digest(lines: Iterable[str]) -> str | None:
    """The manifest digest ``docker push`` reported (``<tag>: digest: sha256:... size: N``)."""
    found = None
    for line in lines:
        if match := _PUSHED.match(line.strip()):
            found = match.group(1)
    return found


_CLIENT_VERSION = re.compile(r"Docker version (\d+)\.(\d+)\S*")


def client_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``docker --version`` output, or None."""
    match = _CLIENT_VERSION.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def has_embedded_buildkit(version: tuple[int, int]) -> bool:
    """True for clients that build with the engine's BuildKit themselves (before 23.0, the
    CLI dropped its own BuildKit client and hands DOCKER_BUILDKIT=1 builds to buildx)."""
    return version < (23, 0)


def buildx_driver(inspect_output: str) -> str:
    """The driver named by ``docker buildx inspect`` (``Driver: docker-container``)."""
    for line in inspect_output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Driver":
            return value.strip()
    return ""
