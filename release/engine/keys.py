"""What HEAD wants per service: its build key and config key, from one pass over git."""

from __future__ import annotations

import dataclasses

from release.adapters import git
from release.config import Config, Environment
from release.planning import buildkey
from release.planning.reconcile import Desired
from release.planning.recorded import NO_IMAGE


def desired(config: Config, env: Environment, names: list[str], tree: str, *,
            missing_ok: bool = False) -> dict[str, Desired]:
    """Build key and config key of each named service in ``tree``, from one pass over git.

    With ``missing_ok``, a service whose files are not all in ``tree`` is left out.
    """
    services = [config.services[n] for n in names]
    inputs = {s.name: buildkey.paths_of(s) if s.needs_image else () for s in services}
    files = {s.name: buildkey.config_paths(s) for s in services}
    ids = git.build_ids(config.root, tree,
                        [p for s in services for p in (*inputs[s.name], *files[s.name])],
                        [buildkey.context_of(s) for s in services if inputs[s.name]],
                        missing_ok=missing_ok)
    registry, aws = repr(env.registry), repr(env.aws)
    out = {}
    for service in services:
        if any(p not in ids for p in (*inputs[service.name], *files[service.name])):
            continue
        # The deployment's repr is canonical (frozen dataclasses, values in file order) and
        # much cheaper than dataclasses.asdict for a thousand services.
        dep = {"deployment": repr(dataclasses.replace(env.deployments[service.name],
                                                      service=None)),  # type: ignore[arg-type]
               "registry": registry, "aws": aws}
        image = (buildkey.build_key(buildkey.inputs_for(service, ids)) if inputs[service.name]
                 else NO_IMAGE)
        out[service.name] = Desired(
            image, buildkey.config_key(dep, {p: ids[p] for p in files[service.name]}))
    return out
