"""The Protocol every target kind implements, and the values passed between the engine and
the kinds. A kind's module is the only code that knows how its target is observed, decided,
changed and put back; the engine calls it through ``TargetKind`` and nothing else."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from release.config.model import ServiceDeployment
from release.config.model import TargetKind as KindName
from release.planning import diff, lambda_shift, plan, recorded

if TYPE_CHECKING:
    from release.engine.context import Context

# What one service runs now: kind name -> that kind's observed state (its own type).
Observed = Mapping[str, Any]


@dataclass(frozen=True)
class Wanted:
    """What a service should run: its image (None while it is still to be built) and the
    build key recorded with it."""

    image: str | None
    build_key: str


@dataclass(frozen=True)
class Decision:
    """One target's part of the Plan: the step and why, with the current and the desired
    state it was decided from (what ``release diff`` compares, value by value)."""

    step: plan.TargetStep
    current: Any = None
    desired: Any = None  # None: not known yet (the image is still to be built)


@dataclass(frozen=True)
class Done:
    """What applying one target did (once the change is live: applying includes waiting)."""

    registered: bool = False
    updated: bool = False
    detail: str = ""
    url: str | None = None
    arn: str | None = None  # the task definition an ECS service runs afterwards
    status: str | None = None  # None: deployed when updated; "paused": waits at a hook
    progress: tuple[str, ...] = ()  # gate results and stages reached (progressive delivery)
    # an ECS service after its rollout: (cluster, its description), for the URL lookup
    reach: tuple[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    traffic: lambda_shift.Report | None = None  # a progressive Lambda move: stages and gates


@dataclass(frozen=True)
class Change:
    """What a rollback or redeploy did to one target: what it ran before and runs now."""

    service: str
    target: str
    before: str
    after: str
    status: str  # rolled-back | unchanged | failed | deployed
    message: str = ""
    hint: str | None = None
    url: str | None = None


def stale(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    """True when a recorded key (build, config) differs from the one this release records."""
    return any(have.get(k) != want.get(k) for k in (recorded.BUILD_KEY_TAG,
                                                     recorded.CONFIG_KEY_TAG) if k in want)


class TargetKind(Protocol):
    """One kind of target (ECS service, Lambda function, ...). Every method but ``present``
    and ``differences`` may raise ``ReleaseError``; the engine reports it as this target's
    failure and carries on with other services."""

    @property
    def name(self) -> KindName:
        """The kind's key in release.yaml (``ecs``, ``lambda``, ...)."""

    def present(self, dep: ServiceDeployment) -> bool:
        """True when ``dep`` deploys to this kind of target."""

    def observe(self, ctx: Context, dep: ServiceDeployment) -> Any:
        """Read what the target runs now (its state, passed back to the other methods)."""

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """What to do, from what runs (``seen``: every kind's state for this service) and
        what is wanted. No cloud call."""

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Carry the decision out and wait until it is live (an ECS rollout: until OUR
        deployment completes, rolled back when it does not)."""

    def describe(self, state: Any) -> str:
        """What runs now, in a few words ("revision 7", "version 3"), or ''."""

    def running_commit(self, state: Any) -> str | None:
        """The source commit recorded on what runs now, where the kind records one."""

    def record(self, ctx: Context, dep: ServiceDeployment, state: Any,
               tags: Mapping[str, str]) -> None:
        """Record ``tags`` on what runs when it lacks them (an unchanged target), so that
        `release plan` sees it as current. Nothing is called when they match."""

    def rollback(self, ctx: Context, dep: ServiceDeployment, to: str | None) -> Change | None:
        """Put the previous version (or ``to``) back and wait; None when the kind keeps no
        versions to go back to."""

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The decision, value by value (``hidden``: values never shown)."""


class ComparedByContent:
    """For kinds compared by what they hold (a definition, files, an image), not by a
    version a release records: nothing to name, record or roll back."""

    def describe(self, state: Any) -> str:
        """Nothing to name ('' unless the kind says otherwise)."""
        return ""

    def running_commit(self, state: Any) -> str | None:
        """None: no commit is recorded; the content itself is compared."""
        return None

    def record(self, ctx: Context, dep: ServiceDeployment, state: Any,
               tags: Mapping[str, str]) -> None:
        """Nothing: the content itself is compared."""

    def rollback(self, ctx: Context, dep: ServiceDeployment, to: str | None) -> None:
        """None: a deploy of an older commit puts the older content back."""
