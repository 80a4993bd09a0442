"""``release build``: build and push each service's image once, for a build job of its own.

The build phase of ``release deploy`` and nothing else: log in to the registries, look each
build key up (a hit is reused, not built), build and push the rest. No ECS, Lambda or Azure
app is read or changed, so a workflow can fan builds out per service and pass the digests
to a deploy job (which then finds every image and builds nothing).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from release.adapters import git
from release.adapters.docker_engine import DockerEngine
from release.commands import images, targets
from release.commands.deploy import Deps, select
from release.config import load_config
from release.config.model import ServiceDeployment
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.output import envelope, table
from release.planning import buildkey, plan


@dataclass(frozen=True)
class Options:
    """Which services' images to build, for which environment's registries."""

    root: Path
    environment: str
    services: tuple[str, ...] = ()
    parallel: int = 8  # registry lookups at once; builds run one after another


@dataclass(frozen=True)
class Image:
    """One service's image: built now, reused from the registry, or failed."""

    service: str
    repository: str
    build_key: str
    digest: str | None
    status: str  # built | reused | failed
    message: str = ""
    hint: str | None = None
    seconds: float = 0.0

    @property
    def reference(self) -> str | None:
        """``repository@sha256:...``: no registry host, so no masked account id in it."""
        return f"{self.repository}@{self.digest}" if self.digest else None


@dataclass(frozen=True)
class Result:
    """Every image; exit code 1 when any failed."""

    environment: str
    commit: str
    images: tuple[Image, ...]
    without_image: tuple[str, ...] = ()  # chosen services that run no image (S3 files only)

    @property
    def exit_code(self) -> int:
        """1 when any image failed."""
        return EXIT_FAILED if any(i.status == "failed" for i in self.images) else EXIT_OK

    def _ordered(self) -> list[Image]:
        return sorted(self.images, key=lambda i: (i.status != "failed", i.service))

    def to_text(self) -> str:
        """A table for people, failures first, then each failure's message and hint."""
        ordered = self._ordered()
        lines = [table(["SERVICE", "BUILD KEY", "IMAGE", "DIGEST", "TIME"],
                       [(i.service, i.build_key[:12], i.status, (i.digest or "")[:19],
                         f"{i.seconds:.1f}s") for i in ordered])]
        for i in ordered:
            if i.status == "failed":
                lines.append(f"\n{i.service}: {i.message}")
                if i.hint:
                    lines.append(f"  hint: {i.hint}")
        if self.without_image:
            lines.append(f"\nno image to build: {', '.join(self.without_image)}")
        counts = {s: sum(i.status == s for i in self.images) for s in ("built", "reused",
                                                                         "failed")}
        lines.append(f"\n{counts['built']} built, {counts['reused']} reused, "
                     f"{counts['failed']} failed for {self.environment}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON: one entry per image."""
        return envelope("build", {"environment": self.environment, "commit": self.commit,
                                  "images": [{**asdict(i), "reference": i.reference}
                                             for i in self.images],
                                  "without_image": list(self.without_image)})

    def github_outputs(self) -> dict[str, str]:
        """``digests`` (service -> repository@sha256:...), and for a single service
        ``digest`` (sha256:...) and ``image`` (repository@sha256:...)."""
        done = {i.service: i for i in self.images if i.digest and i.status != "failed"}
        outputs = {"digests": json.dumps({n: i.reference for n, i in sorted(done.items())},
                                         separators=(",", ":"))}
        if len(self.images) == 1 and done:
            [one] = done.values()
            outputs["digest"] = one.digest or ""
            outputs["image"] = one.reference or ""
        return outputs

    def summary_markdown(self) -> str:
        """A compact table for the job summary, failures first with their hints."""
        icon = {"built": "🔨", "reused": "♻️", "failed": "❌"}
        lines = [f"### build for `{self.environment}` at `{self.commit[:12]}`", "",
                 "| service | image | build key | digest | time |", "|---|---|---|---|---|"]
        lines += [f"| {i.service} | {icon.get(i.status, '')} {i.status} | `{i.build_key[:12]}` "
                  f"| `{(i.digest or '')[:19]}` | {i.seconds:.1f}s |" for i in self._ordered()]
        for i in self._ordered():
            if i.status == "failed":
                lines += ["", f"**{i.service}**: {i.message}"]
                if i.hint:
                    lines.append(f"> hint: {i.hint}")
        return "\n".join(lines)


def run(options: Options, deps: Deps | None = None) -> Result:
    """Build and push what the registries lack; reuse the rest."""
    deps = deps or Deps()
    config = load_config(options.root, (options.environment,))
    env = config.environments[options.environment]
    chosen = select(env, options.services)
    building = [d for d in chosen if d.service.needs_image]
    needs_aws = any(env.registry_of(d).type == "ecr" for d in building)
    if needs_aws and env.aws is None:
        raise UsageError(f"{env.path} has no aws block",
                         "the chosen services push to ECR: add aws: {region, account_id, "
                         "role_arn}")
    snap = git.snapshot(config.root)
    if snap.dirty:
        deps.log("note: the work tree has uncommitted changes; build keys include them")
    ids = git.build_ids(config.root, snap.tree,
                        [p for d in building for p in buildkey.paths_of(d.service)],
                        [d.service.context for d in building])
    aws = deps.aws(env) if needs_aws else None  # ECR's login only: no ECS or Lambda call
    ctx = targets.Context(config, env, aws, snap.commit, deps.clock, deps.sleep, deps.log,
                          deps.random, azure=images.azure_session(env, building))
    try:
        built = _images(ctx, deps, building, ids, options.parallel)
    finally:
        if aws is not None:
            aws.close()
    return Result(env.name, snap.commit, built,
                  tuple(d.name for d in chosen if not d.service.needs_image))


def _images(ctx: targets.Context, deps: Deps, building: list[ServiceDeployment],
            ids: Mapping[str, str], parallel: int) -> tuple[Image, ...]:
    logins = images.logins(ctx, building)
    started = deps.clock()

    def look(dep: ServiceDeployment) -> Image:
        try:
            step = images.lookup(ctx, dep, ids, logins)
        except ReleaseError as exc:
            return Image(dep.name, dep.service.repository, "", None, "failed", exc.message,
                         exc.hint, deps.clock() - started)
        return Image(dep.name, step.repository, step.build_key, step.digest,
                     "reused" if step.digest else "built", seconds=deps.clock() - started)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        found = list(pool.map(look, building))
    docker: DockerEngine | None = None
    out = []
    try:
        for dep, image in zip(building, found, strict=True):
            if image.status != "built":
                out.append(image)
                continue
            began = deps.clock()
            try:
                docker = docker or deps.docker()
                step = plan.ImageStep(image.service, image.repository, image.build_key, None)
                digest = images.build_and_push(ctx, dep, step, docker,
                                               images.login_for(logins,
                                                                ctx.env.registry_of(dep)))
                out.append(Image(image.service, image.repository, image.build_key, digest,
                                 "built", seconds=deps.clock() - began))
            except ReleaseError as exc:
                out.append(Image(image.service, image.repository, image.build_key, None,
                                 "failed", f"build: {exc.message}", exc.hint,
                                 deps.clock() - began))
    finally:
        if docker is not None:
            docker.close()
    return tuple(out)


def register(sub: Any) -> None:
    """Add ``build`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "build", help="build and push images once, for a build job (no deploy)",
        description="Build and push each chosen service's image, tagged with its build key, "
                    "unless the registry already holds that key (then it is reused). "
                    "Touches only the registries: no ECS, Lambda or Azure app changes.")
    parser.add_argument("--env", required=True, metavar="NAME",
                        help="environment whose registries receive the images")
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help="only these services (default: all of the environment)")
    parser.add_argument("--parallel", type=int, default=8, metavar="N",
                        help="registry lookups at once (default: 8); builds run in turn")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.services), max(1, args.parallel))))
