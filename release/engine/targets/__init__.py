"""The target kinds, one module each, registered in ``KINDS`` (in the order a service's
targets are deployed: a state machine after the function it calls, files last)."""

from __future__ import annotations

from release.engine.targets import (
    azure_app,
    docker_host,
    ecs,
    lambda_,
    s3_files,
    step_functions,
)
from release.engine.targets.base import Change, Decision, Done, Observed, TargetKind, Wanted

KINDS: tuple[TargetKind, ...] = (ecs.KIND, lambda_.KIND, step_functions.KIND, s3_files.KIND,
                                 azure_app.KIND, docker_host.KIND)

__all__ = ["KINDS", "Change", "Decision", "Done", "Observed", "TargetKind", "Wanted", "of"]


def of(dep_targets: tuple[str, ...]) -> tuple[TargetKind, ...]:
    """The kinds named in ``dep_targets``, in deploy order."""
    return tuple(kind for kind in KINDS if kind.name in dep_targets)
