"""What a release will do, decided from desired and deployed state. Pure: data in, data out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from release.planning import diff, taskdef

Action = Literal["none", "register", "update", "deploy", "upload", "build", "reuse"]


@dataclass(frozen=True)
class ImageStep:
    """The image a service needs: built now, or already in the registry under its build key."""

    service: str
    repository: str
    build_key: str
    digest: str | None

    @property
    def action(self) -> Action:
        """``build`` when the registry lacks the build key, else ``reuse``."""
        return "reuse" if self.digest else "build"


@dataclass(frozen=True)
class TargetStep:
    """One target of one service: what to do and why."""

    service: str
    target: str
    action: Action
    reason: str


@dataclass(frozen=True)
class Revision:
    """A registered task definition: its ARN, body and tags."""

    arn: str
    body: dict[str, Any]
    tags: dict[str, str]


def _same(desired: dict[str, Any], revision: Revision) -> bool:
    return (taskdef.comparable(desired, taskdef.tags_of(desired))
            == taskdef.comparable(revision.body, revision.tags))


def ecs_step(service: str, desired: dict[str, Any] | None, running: Revision,
             latest: Revision | None = None) -> TargetStep:
    """Register and/or update an ECS service, or nothing when it already runs ``desired``.

    ``desired`` is None when the image is still to be built (its digest is unknown).
    ``latest`` is the newest revision of the family: after a failed rollout it may already
    hold ``desired``, and is then reused instead of registering a copy.
    """
    if desired is None:
        return TargetStep(service, "ecs", "register", "new image")
    if _same(desired, running):
        return TargetStep(service, "ecs", "none", "up to date")
    if latest is not None and latest.arn != running.arn and _same(desired, latest):
        return TargetStep(service, "ecs", "update",
                          f"service runs another revision; {latest.arn.rsplit(':', 1)[-1]} "
                          "already matches")
    want = taskdef.comparable(desired, taskdef.tags_of(desired))
    changes = diff.task_definition(taskdef.comparable(running.body, running.tags), want)
    return TargetStep(service, "ecs", "register", f"differs: {diff.brief(changes)}")


def lambda_step(service: str, desired_image: str | None, function_image: str | None,
                alias_image: str | None, *, environment_differs: bool = False) -> TargetStep:
    """Update a Lambda function's code and alias, or nothing when the alias runs the image."""
    if desired_image is None:
        return TargetStep(service, "lambda", "deploy", "new image")
    if environment_differs:
        return TargetStep(service, "lambda", "deploy", "environment variables differ")
    if alias_image == desired_image:
        return TargetStep(service, "lambda", "none", "up to date")
    if function_image == desired_image:
        return TargetStep(service, "lambda", "deploy", "alias points at an older version")
    return TargetStep(service, "lambda", "deploy", "function runs another image")


def definition_step(service: str, desired: dict[str, Any] | None,
                    current: dict[str, Any]) -> TargetStep:
    """Replace a state machine definition when it differs."""
    if desired is None:
        return TargetStep(service, "step_functions", "update", "function alias changes")
    if desired == current:
        return TargetStep(service, "step_functions", "none", "up to date")
    return TargetStep(service, "step_functions", "update", "definition differs")


def files_step(service: str, local: dict[str, str], remote: dict[str, str | None]) -> TargetStep:
    """Upload the files whose checksum differs from what S3 holds."""
    stale = sorted(key for key, checksum in local.items() if remote.get(key) != checksum)
    if not stale:
        return TargetStep(service, "s3_files", "none", f"{len(local)} files up to date")
    return TargetStep(service, "s3_files", "upload",
                      f"{len(stale)} of {len(local)} files changed")


def container_app_step(service: str, desired_image: str | None,
                       running_image: str | None) -> TargetStep:
    """Point an Azure container app at the image, or nothing when it already runs it."""
    if desired_image is None:
        return TargetStep(service, "azure_container_app", "deploy", "new image")
    if running_image == desired_image:
        return TargetStep(service, "azure_container_app", "none", "up to date")
    return TargetStep(service, "azure_container_app", "deploy", "app runs another image")
