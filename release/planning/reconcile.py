"""Which services need a release: desired (build keys at HEAD) against deployed. Pure.

Reconcile, don't diff commits: a service is in the plan when what runs differs from what
HEAD wants, which is right after a failed run, a force push, a manual dispatch, a new
environment, and a push of many commits at once. ``git diff`` is kept as an explicit mode.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Reason = Literal["not deployed", "missing in the cloud", "deployed differs", "config differs",
                 "changed paths", "forced", "redeploy"]
MATRIX_LIMIT = 256  # GitHub Actions refuses a matrix of more jobs


@dataclass(frozen=True)
class Deployed:
    """What an environment runs for one service, as recorded by the last release."""

    build_key: str | None
    commit: str | None = None
    deployed_at: float | None = None  # seconds since the epoch
    config_key: str | None = None
    missing: str | None = None  # what does not exist at all ("Lambda function f"), if so


@dataclass(frozen=True)
class Entry:
    """One service in the plan, with why."""

    service: str
    reason: Reason
    build_key: str
    detail: str = ""


@dataclass(frozen=True)
class Selection:
    """What a manual run asked for (``workflow_dispatch`` inputs)."""

    services: tuple[str, ...] = ()
    everything: bool = False
    redeploy: bool = False


@dataclass(frozen=True)
class Desired:
    """What HEAD wants for one service: its image and the rest of its deployment."""

    build_key: str
    config_key: str | None = None


def reconcile(desired: Mapping[str, Desired], deployed: Mapping[str, Deployed | None],
              selection: Selection = Selection()) -> list[Entry]:
    """The services whose deployed keys differ from the desired ones (or were chosen)."""
    chosen = set(selection.services) or set(desired)
    out = []
    for service in sorted(chosen):
        want = desired[service]
        key = want.build_key
        running = deployed.get(service)
        if selection.redeploy:
            out.append(Entry(service, "redeploy", key, "fresh tasks, same image"))
        elif selection.everything or selection.services:
            out.append(Entry(service, "forced", key, "chosen by hand"))
        elif running is not None and running.missing:
            out.append(Entry(service, "missing in the cloud", key, running.missing))
        elif running is None or running.build_key is None:
            out.append(Entry(service, "not deployed", key))
        elif running.build_key != key:
            out.append(Entry(service, "deployed differs", key,
                             f"runs {running.build_key[:12]} from {(running.commit or '?')[:7]}"))
        elif None not in (want.config_key, running.config_key) and (
                running.config_key != want.config_key):
            # A state recorded before config keys existed has none: only images compare.
            out.append(Entry(service, "config differs", key,
                             "same image; task definition, variables or files changed"))
    return out


def touched(changed: Iterable[str], watched: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Service -> the changed paths that fall under one of its watched paths."""
    hits: dict[str, list[str]] = {}
    changed = list(changed)
    for service, roots in watched.items():
        for path in changed:
            if any(_under(path, root) for root in roots):
                hits.setdefault(service, []).append(path)
    return hits


def _under(path: str, root: str) -> bool:
    if root in {".", ""}:
        return True
    if any(ch in root for ch in "*?["):
        return fnmatch.fnmatchcase(path, root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def since(desired: Mapping[str, Desired], before: Mapping[str, Desired],
          changed: Iterable[str], watched: Mapping[str, Sequence[str]]) -> list[Entry]:
    """``git diff`` mode: the services whose keys differ between a commit and HEAD.

    ``before`` holds the keys at the earlier commit (a service missing there is new); the
    changed paths under each service's watched paths explain why.
    """
    hits = touched(changed, watched)
    out = []
    for service in sorted(desired):
        if before.get(service) == desired[service]:
            continue
        paths = hits.get(service, [])
        detail = (", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
                  if paths else ("new service" if service not in before else
                                 "environment values changed"))
        out.append(Entry(service, "changed paths", desired[service].build_key, detail))
    return out


def matrix(entries: Sequence[Entry], extra: Mapping[str, Mapping[str, str]],
           limit: int = MATRIX_LIMIT) -> list[dict[str, list[dict[str, str]]]]:
    """GitHub Actions matrices (``{"include": [...]}``), each within the job limit."""
    rows = [{"service": e.service, "build_key": e.build_key, "reason": e.reason,
             **extra.get(e.service, {})} for e in entries]
    chunks = [rows[i:i + limit] for i in range(0, len(rows), limit)] or [[]]
    return [{"include": chunk} for chunk in chunks]
