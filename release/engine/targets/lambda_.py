"""Lambda functions that run container images: the image (checked first: one platform, the
function's architecture), a new version, the alias moved to it; rollback moves the alias."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from release.adapters.aws import deployed, lambda_
from release.adapters.aws.clients import explain
from release.config.model import ServiceDeployment
from release.engine.context import Context
from release.engine.targets.base import Change, Decision, Done, Observed, Wanted, stale
from release.errors import ReleaseError
from release.planning import diff, lambda_image, plan, recorded, rollout


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
        return Decision(
            plan.lambda_step(dep.name, want.image, now.image_uri, now.alias_image_uri,
                             environment_differs=wanted != now.environment),
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
        version = lambda_.deploy_image(ctx.client("lambda"), lambda_.FunctionUpdate(
            dep.lambda_.function, dep.lambda_.alias, want.image,
            environment if environment != now.environment else None,
            recorded.tags(want.build_key, ctx.commit, ctx.config_keys.get(dep.name)),
            now.arn, now.idle), ctx.lambda_pace())
        return Done(updated=True, detail=f"version {version}")

    def describe(self, state: lambda_.FunctionState) -> str:
        """``version N`` the alias points at."""
        return f"version {state.alias_version}"

    def running_commit(self, state: lambda_.FunctionState) -> str | None:
        """The commit tagged on the function (a commit's shape, or None)."""
        return deployed.tag_value(state.tags, recorded.SOURCE_COMMIT_TAG, self.name,
                                  lambda _note: None)

    def record(self, ctx: Context, dep: ServiceDeployment, state: lambda_.FunctionState,
               tags: Mapping[str, str]) -> None:
        """Tag the function with this release's keys when it lacks them."""
        if not stale(state.tags, tags):
            return
        try:
            ctx.client("lambda").tag_resource(Resource=state.arn, Tags=dict(tags))
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
        return Change(dep.name, self.name, before, f"version {wanted}", "rolled-back")

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The image and the environment variables, by name."""
        desired = decision.desired or {**decision.current, "image": "(the image to build)"}
        return diff.lambda_configuration(decision.current, desired, hidden=hidden)


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
