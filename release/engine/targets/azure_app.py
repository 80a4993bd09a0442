"""Azure container apps: the app's container set to the image, waited on until the new
revision runs."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from release.adapters.azure import container_apps
from release.config.model import ServiceDeployment
from release.engine.context import Context
from release.engine.targets.base import ComparedByContent, Decision, Done, Observed, Wanted
from release.errors import ReleaseError
from release.planning import diff, plan


class AzureApp(ComparedByContent):
    """The ``azure_container_app`` target kind."""

    name: Final = "azure_container_app"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service with a container app in this environment."""
        return dep.azure_container_app is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> container_apps.Running:
        """What the app runs now (image, latest revision)."""
        return container_apps.current(ctx.azure_session().api(), _app(ctx, dep))

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Deploy when the app runs another image."""
        now: container_apps.Running = seen[self.name]
        return Decision(plan.container_app_step(dep.name, want.image, now.image),
                        {"image": now.image}, {"image": want.image} if want.image else None)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Set the image and wait for the new revision."""
        if decision.step.action == "none":
            return Done(detail=self.describe(seen[self.name]), url=seen[self.name].url)
        if want.image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to the container app")
        revision = container_apps.deploy(ctx.azure_session().api(), _app(ctx, dep), want.image,
                                         ctx.azure_wait())
        return Done(updated=True, detail=f"revision {revision}", url=seen[self.name].url)

    def describe(self, state: container_apps.Running) -> str:
        """``revision NAME`` the app runs."""
        return f"revision {state.revision or '?'}"

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The image."""
        desired = decision.desired or {"image": "(the image to build)"}
        return diff.lambda_configuration(decision.current, desired, hidden=hidden)


def _app(ctx: Context, dep: ServiceDeployment) -> Any:
    if dep.azure_container_app is None or ctx.env.azure is None:
        raise ReleaseError(f"{dep.name} has no azure_container_app in {ctx.env.path}")
    return dep.azure_container_app


KIND = AzureApp()
