"""A container app's revisions and their traffic through the management API: the split of
``configuration.ingress.traffic``, a revision's own URL, activating and deactivating."""

from __future__ import annotations

from typing import Any

from release.adapters.azure.container_apps import Api, app_path, ingress_url
from release.config.model import AzureAppDeployment


def serving(api: Api, app: AzureAppDeployment) -> tuple[str | None, str, bool]:
    """(the revision that serves now: the latest ready one, the revision mode, whether the
    app has ingress)."""
    props = api.call("GET", app_path(api.account, app)).get("properties", {})
    configuration = props.get("configuration") or {}
    ready = props.get("latestReadyRevisionName")
    return (str(ready) if ready else None,
            str(configuration.get("activeRevisionsMode") or "Single"),
            bool(configuration.get("ingress")))


def set_traffic(api: Api, app: AzureAppDeployment, traffic: list[dict[str, Any]]) -> None:
    """Replace the app's ``ingress.traffic`` (no new revision: configuration only)."""
    api.call("PATCH", app_path(api.account, app),
             {"properties": {"configuration": {"ingress": {"traffic": traffic}}}})


def url(api: Api, app: AzureAppDeployment, revision: str) -> str | None:
    """The revision's own URL (its ``fqdn``; Azure's ``<app>--<suffix>.<domain>``)."""
    props = api.call("GET", f"{app_path(api.account, app)}/revisions/{revision}").get(
        "properties", {})
    fqdn = props.get("fqdn")
    return ingress_url({"configuration": {"ingress": {"fqdn": fqdn}}}) if fqdn else None


def deactivate(api: Api, app: AzureAppDeployment, revision: str) -> None:
    """POST .../revisions/{name}/deactivate: its replicas stop (it must hold no traffic)."""
    api.call("POST", f"{app_path(api.account, app)}/revisions/{revision}/deactivate")
