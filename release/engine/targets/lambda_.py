"""Lambda functions that run container images: the image (checked first: one platform, the
function's architecture), a new version, the alias moved to it; rollback moves the alias."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Final

from release.adapters.aws import deployed, lambda_
from release.adapters.aws.clients import explain
from release.config.model import ServiceDeployment
from release.engine import lambda_rollout
from release.engine.context import Context
from release.engine.targets.base import Change, Decision, Done, Observed, Wanted, stale
from release.errors import ReleaseError
from release.planning import diff, lambda_image, lambda_shift, plan, recorded, rollout


class Lambda:
    """The ``lambda`` target kind."""

    name: Final = "lambda"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service with a Lambda function in this environment."""
        return dep.lambda_ is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> lambda_.FunctionState:
        """The function, and what its alias runs."""
        assert dep.lambda_ is not None  # noqa: S101 - the engine asks present() first
        return lambda_.describe(ctx.client("lambda"), dep.lambda_.function, dep.lambda_.alias)

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Deploy when the alias runs another image or the environment variables differ."""
        assert dep.lambda_ is not None  # noqa: S101
        now: lambda_.FunctionState = seen[self.name]
        wanted = dict(dep.lambda_.environment)
        step = plan.lambda_step(dep.name, want.image, now.image_uri, now.alias_image_uri,
                                environment_differs=wanted != now.environment)
        traffic = dep.lambda_.deployment
        if step.action != "none" and traffic.strategy != "all_at_once":
            step = replace(step, reason=f"{step.reason}; {lambda_shift.describe(traffic)}")
        return Decision(
            step,
            {"image": now.alias_image_uri, "environment": now.environment},
            {"image": want.image, "environment": wanted} if want.image else None)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Check the image, update the code (and environment), publish, move the alias."""
        now: lambda_.FunctionState = seen[self.name]
        if decision.step.action == "none":
            return Done(detail=self.describe(now))
        if dep.lambda_ is None or want.image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to Lambda")
        refuse_what_lambda_rejects(ctx, dep, now, want.image)  # before any update
        environment = dict(dep.lambda_.environment)
        update = lambda_.FunctionUpdate(
            dep.lambda_.function, dep.lambda_.alias, want.image,
            environment if environment != now.environment else None,
            recorded.tags(want.build_key, ctx.commit, ctx.config_keys.get(dep.name)),
            now.arn, now.idle)
        traffic = dep.lambda_.deployment
        if traffic.strategy == "all_at_once" or not (now.alias_version or "").isdigit():
            version = lambda_.deploy_image(ctx.client("lambda"), update, ctx.lambda_pace())
            return Done(updated=True, detail=f"version {version}")
        return self._progressive(ctx, dep, update, str(now.alias_version))

    def _progressive(self, ctx: Context, dep: ServiceDeployment, update: lambda_.FunctionUpdate,
                     previous: str) -> Done:
        """Publish, then move the alias by the strategy through its gates."""
        assert dep.lambda_ is not None  # noqa: S101 - the caller checks
        lam = ctx.client("lambda")
        version = lambda_.publish_image(lam, update, ctx.lambda_pace())
        if version == previous:  # nothing new was published: the alias runs it already
            lambda_.route_alias(lam, update.function, update.alias, version,
                                lambda_shift.routing(version, 100))
            return Done(updated=True, detail=f"version {version}")
        report = lambda_rollout.shift(ctx, lambda_rollout.Shift(
            dep.name, update.function, update.alias, previous, version,
            dep.lambda_.deployment))
        lambda_.record_version(lam, update, version)
        return Done(updated=True, detail=f"version {version}; {report.text()}", traffic=report)

    def describe(self, state: lambda_.FunctionState) -> str:
        """``version N`` the alias points at."""
        return f"version {state.alias_version}"

    def running_commit(self, state: lambda_.FunctionState) -> str | None:
        """The commit recorded for the version the alias runs (a commit's shape, or None)."""
        return _keys(state).get(recorded.SOURCE_COMMIT_TAG)

    def record(self, ctx: Context, dep: ServiceDeployment, state: lambda_.FunctionState,
               tags: Mapping[str, str]) -> None:
        """Tag the function with this release's keys, and the version its alias runs, when
        what is recorded for that version differs (a version's Description cannot change:
        the tags written for it are read first)."""
        version = state.alias_version
        if not stale(_keys(state), tags) and state.tags.get(lambda_.VERSION_TAG) == version:
            return
        try:
            ctx.client("lambda").tag_resource(Resource=state.arn, Tags={
                **tags, **({lambda_.VERSION_TAG: version} if version else {})})
        except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
            raise explain(exc, f"record the release on {dep.name}") from None

    def rollback(self, ctx: Context, dep: ServiceDeployment, to: str | None) -> Change:
        """Move the alias to the version before the one it points at (or ``to``)."""
        assert dep.lambda_ is not None  # noqa: S101
        lam, function, alias = ctx.client("lambda"), dep.lambda_.function, dep.lambda_.alias
        state = lambda_.describe(lam, function, alias)
        versions = lambda_.published_versions(lam, function)
        wanted = rollout.previous_version(state.alias_version, versions, to)
        if wanted is None:
            raise ReleaseError(
                f"{dep.name}: no version {to} of {function}" if to else
                f"{dep.name}: no version of {function} before {state.alias_version}",
                f"published versions: {', '.join(versions) or 'none'}")
        before = f"version {state.alias_version}"
        if wanted == state.alias_version:
            return Change(dep.name, self.name, before, before, "unchanged", "already runs it")
        ctx.log(f"{dep.name}: moving alias {alias} from {state.alias_version} to {wanted}")
        lambda_.point_alias(lam, function, alias, wanted)
        try:
            record_restored(ctx, dep, state.arn, wanted)
        except ReleaseError as exc:
            return Change(dep.name, self.name, before, f"version {wanted}", "rolled-back",
                          f"the alias moved, but the function's tags still name the version "
                          f"before: {exc.message}", exc.hint)
        return Change(dep.name, self.name, before, f"version {wanted}", "rolled-back")

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The image and the environment variables, by name."""
        desired = decision.desired or {**decision.current, "image": "(the image to build)"}
        return diff.lambda_configuration(decision.current, desired, hidden=hidden)


def _keys(state: lambda_.FunctionState) -> dict[str, str]:
    """The keys recorded for what the alias runs (malformed values left out silently)."""
    return deployed.alias_keys(state.alias_version, state.alias_description, state.tags,
                               "lambda", lambda _note: None)


def record_restored(ctx: Context, dep: ServiceDeployment, arn: str, version: str) -> None:
    """Set the function's tags to the keys ``version`` recorded when it was published (the
    keys it lacks removed), naming that version: what status and plan read agrees with
    what the alias runs after a rollback."""
    assert dep.lambda_ is not None  # noqa: S101 - the caller checks
    lam = ctx.client("lambda")
    described = lambda_.recorded_description(lam, dep.lambda_.function, version)
    keys = deployed.version_record(described, f"{dep.name} version {version}",
                                   lambda note: ctx.log(f"note: {note}"))
    if not keys:
        ctx.log(f"{dep.name}: version {version} holds no record of its release; its keys "
                "are removed from the function's tags (the next plan releases it)")
    lambda_.retag(lam, arn, {**keys, lambda_.VERSION_TAG: version},
                  [k for k in lambda_.RECORDED_KEYS if k not in keys])


def refuse_what_lambda_rejects(ctx: Context, dep: ServiceDeployment,
                               now: lambda_.FunctionState, image: str) -> None:
    """Raise, before any update, when the function would not run ``image``: an index (several
    platforms, attestations) or another architecture than the function's."""
    assert dep.lambda_ is not None  # noqa: S101 - the caller checks
    if ctx.images is None:
        raise ReleaseError(f"{dep.name}: no registry login to check the image with")
    try:
        found = ctx.images.manifest(ctx.env.registry_of(dep), image)
    except ReleaseError as exc:
        raise ReleaseError(f"{dep.name}: cannot check the image for Lambda function "
                           f"{dep.lambda_.function} (nothing was updated): {exc.message}",
                           exc.hint) from None
    refusal = lambda_image.check(lambda_image.Subject(
        service=dep.name, function=dep.lambda_.function, image=image,
        architectures=now.architectures), found)
    if refusal is not None:
        raise ReleaseError(refusal.message, refusal.hint)


KIND = Lambda()
