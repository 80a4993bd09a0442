"""The build phase shared by ``release deploy`` and ``release build``.

Log in once per registry, look each service's build key up in its registry (a hit means no
build: the same digest is promoted), and build and push what is missing with BuildKit,
independent images at once (bounded), one failure leaving the others to finish.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from release import repo_files
from release.adapters import build_secrets, buildkit, github_masks, registry
from release.adapters.aws import ecr
from release.adapters.azure import acr
from release.adapters.buildkit import BuildReport, Session
from release.config import destinations
from release.config.model import Environment, Registry, ServiceDeployment
from release.engine import azure
from release.engine.context import Context
from release.errors import ReleaseError, UsageError
from release.planning import buildkey, dockerignore, image_tags, plan
from release.planning.build_command import BuildSpec

# A registry's login, or the error it answered: only the services pushing there fail.
Logins = dict[Registry, registry.Login | ReleaseError]


def reads_aws_secrets(dep: ServiceDeployment) -> bool:
    """True when the service's build reads a secret from Secrets Manager or SSM."""
    return any(s.aws_secret or s.ssm for s in dep.service.build_secrets)


def registries(env: Environment, chosen: Iterable[ServiceDeployment]) -> list[Registry]:
    """Each distinct registry the chosen services push to, in order (ECR and ACR may mix)."""
    return list(dict.fromkeys(env.registry_of(d) for d in chosen if d.service.needs_image))


def azure_session(env: Environment, chosen: Iterable[ServiceDeployment],
                  environ: Mapping[str, str]) -> azure.Session | None:
    """One Entra ID session for the run when a chosen service pushes to ACR, else None."""
    if env.azure is None or all(env.registry_of(d).type != "acr" for d in chosen):
        return None
    return azure.Session(env, environ)


def login(ctx: Context, reg: Registry) -> registry.Login:
    """Credentials for one registry: ECR's token (masked first), ACR via Entra ID, or none."""
    aws = ctx.env.aws
    destinations.checked(destinations.registry_host(  # the password goes to this host
        reg.type, reg.host, account_id=aws.account_id if aws else None,
        region=aws.region if aws else None))
    if reg.type == "ecr":
        found = ecr.login(ctx.client("ecr"), reg.host)
        if ctx.environ.get("GITHUB_ACTIONS") == "true":
            github_masks.mask(found.password)  # before anything could print it
        return found
    if reg.type == "acr":
        return azure.registry_login(ctx.env, ctx.environ, registry=reg,
                                    session=ctx.azure_session())
    return registry.Login(reg.host, "", "")


def logins(ctx: Context, chosen: Iterable[ServiceDeployment],
           log_in: Callable[[Context, Registry], registry.Login] = login) -> Logins:
    """One login per distinct registry the chosen services push to. When some registry
    answers, one that refuses keeps its error, so only its own services fail; when none
    answers (the cloud is unreachable, the role is wrong), its error is the run's error."""
    found: Logins = {}
    for reg in registries(ctx.env, chosen):
        try:
            found[reg] = log_in(ctx, reg)
        except ReleaseError as exc:
            found[reg] = exc
    errors = [got for got in found.values() if isinstance(got, ReleaseError)]
    if errors and len(errors) == len(found):
        raise errors[0]
    for reg, got in found.items():
        if isinstance(got, ReleaseError):
            ctx.log(f"{reg.host}: login failed, its services fail: {got.message}")
    return found


def login_for(found: Logins, reg: Registry) -> registry.Login:
    """``reg``'s login, or its login error raised (a copy) for the service asking."""
    got = found[reg]
    if isinstance(got, ReleaseError):
        raise copy.copy(got)
    return got


def manifest_digest(reg: Registry, found: registry.Login, repository: str,
                    tag: str, ca_bundle: str | None) -> str | None:
    """The digest ``repository:tag`` points at in ``reg``, or None when it is not there."""
    if reg.type == "acr":  # HTTPS only, trusting REQUESTS_CA_BUNDLE when set
        return acr.manifest_digest(found, repository, tag, ca_bundle)
    return registry.manifest_digest(found, repository, tag)


def lookup(ctx: Context, dep: ServiceDeployment, ids: Mapping[str, str],
           found: Logins) -> plan.ImageStep:
    """The service's build key, and its digest when the registry already holds that key."""
    service = dep.service
    key = buildkey.build_key(buildkey.inputs_for(service, ids))
    reg = ctx.env.registry_of(dep)
    return plan.ImageStep(service.name, service.repository, key,
                          manifest_digest(reg, login_for(found, reg), service.repository, key,
                                          ctx.ca_bundle))


def refuse_links_leaving(root: Path, context: str, dockerfile: str) -> None:
    """Refuse a build context holding a symbolic link out of the repository (one that the
    ignore file BuildKit reads leaves out is never sent, so it may stay): ``dockerfile``'s
    own ``<Dockerfile>.dockerignore`` when there is one, else the context's ``.dockerignore``."""
    leaving = repo_files.links_leaving(root, context)
    if not leaving:
        return
    prefix = "" if context == "." else context.rstrip("/") + "/"
    own = f"{dockerfile}.dockerignore"
    rel = own if (root / own).is_file() else f"{prefix}.dockerignore"
    try:
        text = repo_files.read_bounded(root, rel, 1 << 20).decode(
            "utf-8", "replace") if (root / rel).exists() else ""
    except repo_files.PathRefused as exc:
        raise UsageError(exc.message, exc.hint) from None
    matcher = dockerignore.Matcher(dockerignore.patterns_of(text))
    sent = [(path, target) for path, target in leaving
            if not matcher.excludes(path.removeprefix(prefix))]
    if sent:
        path, target = sent[0]
        raise UsageError(
            f"build context {context!a} holds a symbolic link out of the repository: "
            f"{path!a} -> {target!a}" + (f" (and {len(sent) - 1} more)" if len(sent) > 1 else ""),
            f"commit the file itself instead of the link, or add the link to {rel!a}, the "
            "ignore file the build reads")


def spec_for(ctx: Context, dep: ServiceDeployment, image: plan.ImageStep,
             secrets: Sequence[str] = ()) -> BuildSpec:
    """What to build for one service: context, Dockerfile, tags, args, platforms, cache;
    ``secrets`` are its ``--secret`` values (where the CLI reads each, never a value)."""
    service = dep.service
    root = ctx.config.root
    extra = tags_of(ctx, dep, image.build_key)
    for template, why in extra.skipped:
        ctx.log(f"{service.name}: tag {template} skipped: {why}")
    return BuildSpec(
        context=str(root / service.context), dockerfile=str(root / service.dockerfile),
        image=f"{ctx.env.registry_of(dep).host}/{service.repository}", tag=image.build_key,
        extra_tags=tuple(extra.tags), build_args=service.build_args,
        labels={"org.opencontainers.image.revision": ctx.commit,
                "dev.release.build-key": image.build_key},
        platforms=service.image_platforms, target=service.target, secrets=tuple(secrets),
        cache_registry=service.cache.registry, cache_gha=service.cache.gha,
        github_actions=gha_reachable(ctx.environ),
        for_lambda=service.lambda_ is not None, attestations=service.attestations)


def tags_of(ctx: Context, dep: ServiceDeployment, build_key: str) -> image_tags.Rendered:
    """The service's readable tags (``tags:``) for this run, beside its build key."""
    return image_tags.render(dep.service.tags, image_tags.tag_values(
        build_key=build_key, sha=ctx.commit, env=ctx.env.name,
        run_number=ctx.environ.get("GITHUB_RUN_NUMBER"),
        run_attempt=ctx.environ.get("GITHUB_RUN_ATTEMPT")))


def gha_reachable(environ: Mapping[str, str]) -> bool:
    """True under GitHub Actions when the step can reach its cache service (buildx's
    ``type=gha`` reads ACTIONS_RUNTIME_TOKEN, which a step sees only when exposed to it)."""
    return (environ.get("GITHUB_ACTIONS") == "true"
            and bool(environ.get("ACTIONS_RUNTIME_TOKEN")))


def build_and_push(ctx: Context, dep: ServiceDeployment, image: plan.ImageStep,
                   builds: Session, found: registry.Login) -> BuildReport:
    """Build the image tagged with its build key, push it, and say what the build did."""
    service = dep.service
    refuse_links_leaving(ctx.config.root, service.context, service.dockerfile)
    builds.login(found)  # before the build: the cache is read from the same registry
    builder = builds.builder_for(service.builder)
    if service.cache.gha and not (gha_reachable(ctx.environ) and builder.kind == "buildx"
                                  and not builder.in_engine):
        ctx.log(f"{service.name}: note: cache.gha needs buildx with the docker-container "
                "driver under GitHub Actions and ACTIONS_RUNTIME_TOKEN exposed to the step "
                "(crazy-max/ghaction-github-runtime); using the registry cache only")
    if service.builder and builder.kind == "embedded":
        ctx.log(f"{service.name}: note: builder {service.builder} needs docker buildx; "
                "building with the embedded BuildKit")
    with build_secrets.secret_args(service.build_secrets, root=ctx.config.root,
                                   environ=ctx.environ, aws_clients=ctx.aws) as args:
        spec = spec_for(ctx, dep, image, args[1::2])
        hidden = buildkit.secret_values(spec.secrets, ctx.environ)  # kept out of the log too
        report = builds.build(service.name, spec, hidden=hidden, builder=builder)
    ctx.log(f"{service.name}: pushed {spec.image}@{report.digest} ({report.describe()})")
    return report


Built = BuildReport | ReleaseError


def build_all(ctx: Context, jobs: Sequence[tuple[ServiceDeployment, plan.ImageStep]],
              found: Logins, open_session: Callable[[], Session], workers: int) -> list[Built]:
    """Build and push each job's image, ``workers`` at once; each job's report or error, in
    order. The builder is found once (a failure there is every job's error)."""
    if not jobs:
        return []
    for dep, image in jobs:  # a tag that cannot be made fails the run before any build
        tags_of(ctx, dep, image.build_key)
    try:
        builds = open_session()
    except ReleaseError as exc:
        return [copy.copy(exc) for _ in jobs]

    def one(job: tuple[ServiceDeployment, plan.ImageStep]) -> Built:
        dep, image = job
        try:
            return build_and_push(ctx, dep, image, builds,
                                  login_for(found, ctx.env.registry_of(dep)))
        except ReleaseError as exc:
            return exc

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            return list(pool.map(one, jobs))
    finally:
        builds.close()
