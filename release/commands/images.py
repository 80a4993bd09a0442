"""The build phase shared by ``release deploy`` and ``release build``.

Log in once per registry, look each service's build key up in its registry (a hit means no
build: the same digest is promoted), and build and push what is missing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from release import repo_files
from release.adapters import github_masks, registry
from release.adapters.aws import ecr
from release.adapters.azure import acr
from release.adapters.docker_engine import BuildRequest, DockerEngine
from release.commands import auth_azure, targets
from release.config import destinations
from release.config.model import Environment, Registry, ServiceDeployment
from release.errors import ReleaseError, UsageError
from release.planning import buildkey, dockerignore, plan

# A registry's login, or the error it answered: only the services pushing there fail.
Logins = dict[Registry, registry.Login | ReleaseError]


def registries(env: Environment, chosen: Iterable[ServiceDeployment]) -> list[Registry]:
    """Each distinct registry the chosen services push to, in order (ECR and ACR may mix)."""
    return list(dict.fromkeys(env.registry_of(d) for d in chosen if d.service.needs_image))


def azure_session(env: Environment,
                  chosen: Iterable[ServiceDeployment]) -> auth_azure.Session | None:
    """One Entra ID session for the run when a chosen service pushes to ACR, else None."""
    if env.azure is None or all(env.registry_of(d).type != "acr" for d in chosen):
        return None
    return auth_azure.Session(env, os.environ)


def login(ctx: targets.Context, reg: Registry) -> registry.Login:
    """Credentials for one registry: ECR's token (masked first), ACR via Entra ID, or none."""
    aws = ctx.env.aws
    destinations.checked(destinations.registry_host(  # the password goes to this host
        reg.type, reg.host, account_id=aws.account_id if aws else None,
        region=aws.region if aws else None))
    if reg.type == "ecr":
        found = ecr.login(ctx.client("ecr"), reg.host)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            github_masks.mask(found.password)  # before anything could print it
        return found
    if reg.type == "acr":
        return auth_azure.registry_login(ctx.env, os.environ, registry=reg,
                                         session=ctx.azure_session())
    return registry.Login(reg.host, "", "")


def logins(ctx: targets.Context, chosen: Iterable[ServiceDeployment],
           log_in: Callable[[targets.Context, Registry], registry.Login] = login) -> Logins:
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
                    tag: str) -> str | None:
    """The digest ``repository:tag`` points at in ``reg``, or None when it is not there."""
    if reg.type == "acr":  # HTTPS only, trusting REQUESTS_CA_BUNDLE when set
        return acr.manifest_digest(found, repository, tag, os.environ.get("REQUESTS_CA_BUNDLE"))
    return registry.manifest_digest(found, repository, tag)


def lookup(ctx: targets.Context, dep: ServiceDeployment, ids: Mapping[str, str],
           found: Logins) -> plan.ImageStep:
    """The service's build key, and its digest when the registry already holds that key."""
    service = dep.service
    key = buildkey.build_key(buildkey.inputs_for(service, ids))
    reg = ctx.env.registry_of(dep)
    return plan.ImageStep(service.name, service.repository, key,
                          manifest_digest(reg, login_for(found, reg), service.repository, key))


def refuse_links_leaving(root: Path, context: str) -> None:
    """Refuse a build context holding a symbolic link out of the repository (one that
    ``.dockerignore`` leaves out is never sent, so it may stay)."""
    leaving = repo_files.links_leaving(root, context)
    if not leaving:
        return
    ignore = root / context / ".dockerignore"
    try:
        text = repo_files.read_bounded(root, f"{context}/.dockerignore", 1 << 20).decode(
            "utf-8", "replace") if ignore.exists() else ""
    except repo_files.PathRefused as exc:
        raise UsageError(exc.message, exc.hint) from None
    matcher = dockerignore.Matcher(dockerignore.patterns_of(text))
    prefix = "" if context == "." else context.rstrip("/") + "/"
    sent = [(path, target) for path, target in leaving
            if not matcher.excludes(path.removeprefix(prefix))]
    if sent:
        path, target = sent[0]
        raise UsageError(
            f"build context {context!a} holds a symbolic link out of the repository: "
            f"{path!a} -> {target!a}" + (f" (and {len(sent) - 1} more)" if len(sent) > 1 else ""),
            "commit the file itself instead of the link, or add the link to the context's "
            ".dockerignore")


def build_and_push(ctx: targets.Context, dep: ServiceDeployment, image: plan.ImageStep,
                   docker: DockerEngine, found: registry.Login) -> str:
    """Build the image tagged with its build key, push it, and return its digest."""
    service = dep.service
    name = f"{ctx.env.registry_of(dep).host}/{service.repository}"
    refuse_links_leaving(ctx.config.root, service.context)
    ctx.log(f"{service.name}: building {name}:{image.build_key}")
    docker.build(BuildRequest(
        context=ctx.config.root / service.context,
        dockerfile=ctx.config.root / service.dockerfile,
        image=name, tag=image.build_key, build_args=service.build_args,
        platform=service.platform,
        labels={"org.opencontainers.image.revision": ctx.commit,
                "dev.release.build-key": image.build_key},
    ))
    digest = docker.push(name, image.build_key, found)
    ctx.log(f"{service.name}: pushed {name}@{digest}")
    return digest
