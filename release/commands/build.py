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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from release import summary
from release.adapters import git
from release.adapters.buildkit import BuildReport
from release.config import load_config
from release.config.model import ServiceDeployment
from release.engine import images
from release.engine.context import Context, Deps, build_workers, select
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.output import envelope, table
from release.planning import buildkey, plan


@dataclass(frozen=True)
class Options:
    """Which services' images to build, for which environment's registries."""

    root: Path
    environment: str
    services: tuple[str, ...] = ()
    parallel: int = 8  # registry lookups at once
    builds: int = 0  # images built at once; 0: one per CPU


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
    build: BuildReport | None = None  # how it was built, when built now

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
        lines = [table(["SERVICE", "BUILD KEY", "IMAGE", "DIGEST", "TIME", "BUILDER",
                        "CACHED", "SIZE"],
                       [(i.service, i.build_key[:12], i.status, (i.digest or "")[:19],
                         f"{i.seconds:.1f}s", *_build_cells(i.build)) for i in ordered])]
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
                 "| service | image | build key | digest | time | builder | platforms "
                 "| cached steps | size | tags |", "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {i.service} | {icon.get(i.status, '')} {i.status} | `{i.build_key[:12]}` "
                  f"| `{(i.digest or '')[:19]}` | {i.seconds:.1f}s | "
                  + " | ".join(summary.cell(c) for c in summary.build_cells(i.build)) + " |"
                  for i in self._ordered()]
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
    needs_aws = any(env.registry_of(d).type == "ecr" or images.reads_aws_secrets(d)
                    for d in building)
    if needs_aws and env.aws is None:
        raise UsageError(f"{env.path} has no aws block",
                         "the chosen services push to ECR or read build secrets from AWS: "
                         "add aws: {region, account_id, "
                         "role_arn}")
    snap = git.snapshot(config.root)
    if snap.dirty:
        deps.log("note: the work tree has uncommitted changes; build keys include them")
    ids = git.build_ids(config.root, snap.tree,
                        [p for d in building for p in buildkey.paths_of(d.service)],
                        [buildkey.context_of(d.service) for d in building])
    aws = deps.clients(env) if needs_aws else None  # ECR's login only: no ECS or Lambda call
    ctx = Context(config, env, aws, snap.commit, deps.clock, deps.sleep, deps.log, deps.random,
                  azure=images.azure_session(env, building, deps.environ), environ=deps.environ)
    try:
        built = _images(ctx, deps, building, ids, options)
    finally:
        if aws is not None:
            aws.close()
    return Result(env.name, snap.commit, built,
                  tuple(d.name for d in chosen if not d.service.needs_image))


def _images(ctx: Context, deps: Deps, building: list[ServiceDeployment],
            ids: Mapping[str, str], options: Options) -> tuple[Image, ...]:
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

    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        found = list(pool.map(look, building))
    jobs = [(dep, plan.ImageStep(i.service, i.repository, i.build_key, None))
            for dep, i in zip(building, found, strict=True) if i.status == "built"]
    built = iter(images.build_all(ctx, jobs, logins, deps.open_builds,
                                  build_workers(options.builds)))
    out = []
    for image in found:
        if image.status != "built":
            out.append(image)
            continue
        got = next(built)
        if isinstance(got, ReleaseError):
            out.append(replace(image, status="failed", message=f"build: {got.message}",
                               hint=got.hint))
        else:
            out.append(replace(image, digest=got.digest, seconds=got.seconds, build=got))
    return tuple(out)


def _build_cells(report: BuildReport | None) -> tuple[str, str, str]:
    if report is None:
        return ("", "", "")
    size = f"{report.size / 1e6:.1f}MB" if report.size is not None else ""
    return (report.builder, f"{report.cached}/{report.steps}", size)


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
                        help="registry lookups at once (default: 8)")
    parser.add_argument("--builds", type=int, default=0, metavar="N",
                        help="images built at once (default: one per CPU)")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.services), max(1, args.parallel),
        max(0, args.builds)), Deps(environ=args.environ)))
