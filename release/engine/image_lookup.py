"""Which planned images each registry already holds (``release plan --find-images``).

A service whose build key is already in its registry needs no build job: the deploy finds
that digest and promotes it (the usual case when a release reaches its second environment,
and after a config-only change). Only the registries are read: one login per registry and
one manifest HEAD per image. Anything that cannot be checked is left to the build job,
which looks again and builds when it must: a failed check never skips a build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from release.config.model import Config, Environment, ServiceDeployment
from release.engine import images
from release.engine.context import Context
from release.errors import ReleaseError
from release.planning.reconcile import Entry
from release.planning.recorded import NO_IMAGE

LOOKUPS_AT_ONCE = 8


@dataclass(frozen=True)
class Found:
    """Service -> the digest its registry holds for its build key (None: not there).

    Services missing from ``digests`` were not checked (``errors`` says why)."""

    digests: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # how long the logins and lookups took

    def status(self, service: str) -> str:
        """``found`` (promote, no build), ``missing`` (build it) or ``unchecked``."""
        if service not in self.digests:
            return "unchecked"
        return "found" if self.digests[service] else "missing"

    def note(self) -> str:
        """One line naming what could not be checked, or ''."""
        if not self.errors:
            return ""
        reasons = sorted(set(self.errors.values()))
        return (f"could not look up {len(self.errors)} image(s) ({'; '.join(reasons)}); "
                "their build jobs look again and build when the image is missing")


def find(config: Config, env: Environment, entries: Sequence[Entry], aws: Any,
         commit: str, *, environ: Mapping[str, str]) -> Found:
    """Look each planned image up in its registry, by build key."""
    wanted = [e for e in entries if e.build_key != NO_IMAGE]
    if not wanted:
        return Found()
    deps = {e.service: env.deployments[e.service] for e in wanted}
    ctx = Context(config, env, aws, commit, azure=images.azure_session(env, deps.values(), environ),
                  environ=environ)
    try:
        logins = images.logins(ctx, deps.values())
    except ReleaseError as exc:  # no registry answered: every build job decides for itself
        return Found(errors={e.service: exc.message for e in wanted})

    def look(entry: Entry) -> tuple[str, str | ReleaseError | None]:
        dep: ServiceDeployment = deps[entry.service]
        reg = env.registry_of(dep)
        try:
            return entry.service, images.manifest_digest(
                reg, images.login_for(logins, reg), dep.service.repository, entry.build_key,
                ctx.ca_bundle)
        except ReleaseError as exc:
            return entry.service, exc

    with ThreadPoolExecutor(max_workers=LOOKUPS_AT_ONCE) as pool:
        looked = list(pool.map(look, wanted))
    digests = {name: got for name, got in looked if not isinstance(got, ReleaseError)}
    errors = {name: got.message for name, got in looked if isinstance(got, ReleaseError)}
    return Found(digests, errors)
