"""Azure container apps: the app's container set to the image, waited on until the new
revision runs."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, Final

from release.adapters.azure import container_apps
from release.config.model import ServiceDeployment
from release.engine import app_canary
from release.engine.context import Context
from release.engine.targets.base import ComparedByContent, Decision, Done, Observed, Wanted
from release.errors import ReleaseError
from release.planning import app_settings, diff, plan, revision_traffic


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
        """Deploy when the app runs another image, or its configured variables or Key Vault
        references differ (shown by name and URL, never by value)."""
        now: container_apps.Running = seen[self.name]
        app = dep.azure_container_app
        settings = app_settings.wanted(app) if app is not None else app_settings.Wanted()
        step = plan.container_app_step(dep.name, want.image, now.image)
        if step.action == "none" and app_settings.differs(settings, now.variables,
                                                           now.secrets):
            step = plan.TargetStep(dep.name, self.name, "deploy",
                                   "the app's variables or Key Vault secrets differ")
        if step.action != "none" and app is not None and app.deployment.strategy == "canary":
            step = replace(step, reason=f"{step.reason}; "
                                        f"{revision_traffic.describe(app.deployment)}")
        current: dict[str, Any] = {"image": now.image}
        desired: dict[str, Any] = {"image": want.image or "(the image to build)"}
        if not settings.empty:
            current.update(app_settings.shown(settings, now.variables, now.secrets))
            desired.update(app_settings.shown(settings, settings.variables, settings.secrets))
        return Decision(step, current, desired if want.image or not settings.empty else None)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Set the image and wait for the new revision."""
        if decision.step.action == "none":
            return Done(detail=self.describe(seen[self.name]), url=seen[self.name].url)
        if want.image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to the container app")
        app = _app(ctx, dep)
        if app.deployment.strategy == "canary":
            revision, report = app_canary.release(ctx, ctx.azure_session().api(),
                                                  app_canary.Canary(dep.name, app, want.image))
            return Done(updated=True, detail=f"revision {revision}; {report.text()}",
                        url=seen[self.name].url, traffic=report)
        revision = container_apps.deploy(ctx.azure_session().api(), app, want.image,
                                         ctx.azure_wait())
        return Done(updated=True, detail=f"revision {revision}", url=seen[self.name].url)

    def describe(self, state: container_apps.Running) -> str:
        """``revision NAME`` the app runs."""
        return f"revision {state.revision or '?'}"

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The image, the configured variables and Key Vault secrets (names and URLs)."""
        desired = decision.desired or {"image": "(the image to build)"}
        return diff.container_app(decision.current, desired, hidden=hidden)


def _app(ctx: Context, dep: ServiceDeployment) -> Any:
    if dep.azure_container_app is None or ctx.env.azure is None:
        raise ReleaseError(f"{dep.name} has no azure_container_app in {ctx.env.path}")
    return dep.azure_container_app


KIND = AzureApp()
