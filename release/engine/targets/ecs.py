"""ECS services: a task definition rendered from the repository's template, registered when
it differs, rolled out with UpdateService and waited on until OUR deployment completes
(rolled back when it does not)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from release.adapters.aws import deployed, ecs, ecs_address, ecs_rollout
from release.adapters.aws.clients import explain
from release.config.model import ServiceDeployment
from release.engine import rendering
from release.engine.context import Context
from release.engine.targets import ecs_delivery
from release.engine.targets.base import Change, Decision, Done, Observed, Wanted, stale
from release.errors import ReleaseError, UsageError
from release.planning import diff, plan, recorded, rollout, taskdef


@dataclass(frozen=True)
class Seen:
    """What the service runs, and the newest revision of its family."""

    service: ecs.ServiceState
    latest: plan.Revision | None

    @property
    def running(self) -> plan.Revision:
        """The revision the service runs now."""
        return plan.Revision(self.service.task_definition_arn, self.service.task_definition,
                             self.service.tags)


class Ecs:
    """The ``ecs`` target kind."""

    name: Final = "ecs"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service with an ECS service in this environment."""
        return dep.ecs is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> Seen:
        """The service (from the run's batched DescribeServices when there is one), its task
        definition and the newest revision of the family."""
        assert dep.ecs is not None  # noqa: S101 - the engine asks present() first
        found = (ctx.ecs_reads.service(dep.ecs.cluster, dep.ecs.service)
                 if ctx.ecs_reads is not None else None)
        if ctx.ecs_reads is not None and found is None:
            raise ecs.missing(dep.ecs.cluster, dep.ecs.service)
        state = ecs.describe(ctx.client("ecs"), dep.ecs.cluster, dep.ecs.service,
                             family=dep.ecs.family, found=found)
        latest = state.latest
        return Seen(state, plan.Revision(latest.arn, latest.body, latest.tags) if latest else None)

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Register and roll out when the rendered task definition differs from what runs."""
        now: Seen = seen[self.name]
        desired = desired_task_definition(ctx, dep, want) if want.image else None
        return Decision(plan.ecs_step(dep.name, desired, now.running, now.latest),
                        now.running, desired)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Register (or reuse the matching newest revision), update the service and wait."""
        now: Seen = seen[self.name]
        if decision.step.action == "none":  # its URL is looked up with the others'
            assert dep.ecs is not None  # noqa: S101 - present() said so
            return Done(detail=self.describe(now), arn=now.service.task_definition_arn,
                        reach=(dep.ecs.cluster, dict(now.service.described))
                        if now.service.described else None)
        if dep.ecs is None or want.image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to ECS")
        registered = False
        if decision.step.action == "update" and now.latest is not None:
            arn = now.latest.arn
        else:
            arn = ecs.register(ctx.client("ecs"),
                               desired_task_definition(ctx, dep, want))
            registered = True
            ctx.log(f"{dep.name}: registered {arn.rsplit('/', 1)[-1]}")
        before = ecs_rollout.Before(now.service.task_definition_arn,
                                    now.service.rollback_on_failure)
        if dep.ecs.deployment is not None:  # a strategy and gates: ecs_delivery runs them
            done = ecs_delivery.deliver(ctx, dep, arn, before,
                                        now.service.described.get("networkConfiguration"))
            return dataclasses.replace(done, registered=registered)
        described = ctx.rollouts().roll_out(
            ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds,
                               dep.ecs.desired_count), arn, before)
        return Done(registered=registered, updated=True, arn=arn,
                    detail="revision " + arn.rsplit(":", 1)[-1],
                    reach=(dep.ecs.cluster, described))

    def describe(self, state: Seen) -> str:
        """``revision N`` of what the service runs."""
        return "revision " + state.service.task_definition_arn.rsplit(":", 1)[-1]

    def running_commit(self, state: Seen) -> str | None:
        """The commit tagged on the running task definition (a commit's shape, or None)."""
        return deployed.tag_value(state.service.tags, recorded.SOURCE_COMMIT_TAG, self.name,
                                  lambda _note: None)

    def record(self, ctx: Context, dep: ServiceDeployment, state: Seen,
               tags: Mapping[str, str]) -> None:
        """Tag the running task definition with this release's keys when it lacks them."""
        if not stale(state.service.tags, tags):
            return
        try:
            ctx.client("ecs").tag_resource(
                resourceArn=state.service.task_definition_arn,
                tags=[{"key": k, "value": v} for k, v in tags.items()])
        except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
            raise explain(exc, f"record the release on {dep.name}") from None

    def rollback(self, ctx: Context, dep: ServiceDeployment, to: str | None) -> Change:
        """Roll the service out to the revision below the one it runs (or ``to``)."""
        assert dep.ecs is not None  # noqa: S101
        client = ctx.client("ecs")
        state = ecs.describe(client, dep.ecs.cluster, dep.ecs.service)
        current = state.task_definition_arn
        revisions = ecs.family_revisions(client, dep.ecs.family)
        wanted = rollout.previous_revision(current, revisions, _number(to))
        if wanted is None:
            shown = ", ".join(rollout.revision(a) for a in revisions[:5]) or "none"
            raise ReleaseError(
                f"{dep.name}: no revision {to} of {dep.ecs.family}" if to else
                f"{dep.name}: no previous revision of {dep.ecs.family} before "
                f"{rollout.revision(current)}",
                f"active revisions (newest first): {shown}")
        before = rollout.revision(current)
        if wanted == current:
            return Change(dep.name, self.name, before, before, "unchanged", "already runs it")
        ctx.log(f"{dep.name}: rolling back from {before} to {rollout.revision(wanted)}")
        target = ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds)
        try:
            described = ctx.rollouts().roll_out(
                target, wanted, ecs_rollout.Before(current, state.rollback_on_failure))
        except ReleaseError as exc:
            return Change(dep.name, self.name, before, rollout.revision(wanted), "failed",
                          exc.message, exc.hint)
        return Change(dep.name, self.name, before, rollout.revision(wanted), "rolled-back",
                      url=ecs_address.service_url(ctx.client, dep.ecs.cluster, described))

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The task definition, field by field (containers by name, variables by name)."""
        running: plan.Revision = decision.current
        before = taskdef.comparable(running.body, running.tags)
        if decision.desired is None:
            return [diff.Difference("image", _image_of(running.body), "(the image to build)")]
        after = taskdef.comparable(decision.desired, taskdef.tags_of(decision.desired))
        return diff.task_definition(before, after, hidden=hidden)


def redeploy(ctx: Context, dep: ServiceDeployment) -> tuple[Change, tuple[str, Any] | None]:
    """A new deployment of the revision the service runs (fresh tasks), waited on."""
    assert dep.ecs is not None  # noqa: S101 - the caller checks
    try:
        state = Ecs().observe(ctx, dep).service
        current = state.task_definition_arn
        described = ctx.rollouts().roll_out(
            ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds),
            current, ecs_rollout.Before(None, state.rollback_on_failure))
    except ReleaseError as exc:
        return Change(dep.name, "ecs", "", "", "failed", exc.message, exc.hint), None
    revision = rollout.revision(current)
    return (Change(dep.name, "ecs", revision, revision, "deployed"),
            (dep.ecs.cluster, described))


def desired_task_definition(ctx: Context, dep: ServiceDeployment,
                            want: Wanted) -> dict[str, Any]:
    """The task definition to run the wanted image, tagged with its build key and commit."""
    assert want.image is not None  # noqa: S101 - callers check
    body, _ = rendering.render_for(ctx.config, ctx.env, dep.name, want.image, recorded.tags(
        want.build_key, ctx.commit, ctx.config_keys.get(dep.name)))
    return body


def _image_of(body: Mapping[str, Any]) -> str | None:
    containers = body.get("containerDefinitions") or [{}]
    image = containers[0].get("image")
    return image if isinstance(image, str) else None


def _number(to: str | None) -> int | None:
    if to is None:
        return None
    if not to.isdigit():
        raise UsageError(f"--to {to}: not a revision number", "give the N of family:N")
    return int(to)


KIND = Ecs()
