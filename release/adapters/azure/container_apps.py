"""Azure Container Apps through the management API: set the image, wait for the revision.

Success means the app's newest revision runs OUR image and is Provisioned and Running;
returning when the PATCH is accepted (as Azure/container-apps-deploy-action does) is not.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from release.adapters.azure.acr import tls_context
from release.config.model import AzureAccount, AzureAppDeployment
from release.errors import ReleaseError
from release.planning import app_settings

API_VERSION = "2024-03-01"
TIMEOUT = 30


@dataclass(frozen=True)
class Api:
    """The management endpoint, a bearer token and (for local fakes) a CA file. The token
    may be a function, asked at each call: a renewing session's, for waits that outlive
    one token."""

    account: AzureAccount
    token: str | Callable[[], str]
    ca_file: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One JSON request; errors carry Azure's code and message."""
        url = f"{self.account.management_url.rstrip('/')}{path}?api-version={API_VERSION}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https
        token = self.token() if callable(self.token) else self.token
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT,  # noqa: S310
                                        context=tls_context(self.ca_file)) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_of(exc.read())
            exc.close()
            hint = ("the app registration needs the Contributor role on the container app"
                    if exc.code in {401, 403} else None)
            raise ReleaseError(f"{method} {path}: {exc.code} {detail}".rstrip(), hint) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ReleaseError(f"cannot reach {self.account.management_url}: "
                               f"{getattr(exc, 'reason', exc)}") from None
        return json.loads(raw) if raw.strip() else {}


def _error_of(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error", {})
    except (ValueError, AttributeError):
        return ""
    return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")


def app_path(account: AzureAccount, app: AzureAppDeployment) -> str:
    """The app's resource path under the management endpoint."""
    return (f"/subscriptions/{account.subscription_id}/resourceGroups/{app.resource_group}"
            f"/providers/Microsoft.App/containerApps/{app.name}")


@dataclass(frozen=True)
class Wait:
    """How long to wait for the revision, with time passed in."""

    deadline_seconds: float = 900
    interval: float = 5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = field(default=lambda _line: None)


def _index(containers: list[dict[str, Any]], container: str | None) -> int:
    names = [c.get("name") for c in containers]
    if container is None:
        if len(containers) != 1:
            raise ReleaseError(f"the container app has containers {names}: name the one to "
                               "update", "set azure_container_app: {container: NAME} in "
                               "release.yaml")
        return 0
    if container in names:
        return names.index(container)
    raise ReleaseError(f"the container app has no container '{container}' (it has {names})")


def with_image(template: dict[str, Any], container: str | None, image: str) -> dict[str, Any]:
    """``template`` with the named container's (or the only container's) image replaced."""
    containers = [dict(c) for c in template.get("containers", [])]
    containers[_index(containers, container)]["image"] = image
    return {**template, "containers": containers}


@dataclass(frozen=True)
class Running:
    """What the app runs now: its container's image and its newest revision, with that
    container's variables and the app's secrets (by name; never a secret's value)."""

    image: str | None
    revision: str | None
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    url: str | None = None  # the ingress: https://<fqdn>, http:// for a loopback one


def ingress_url(props: dict[str, Any]) -> str | None:
    """The app's URL from ``configuration.ingress.fqdn`` (None without ingress). The local
    cloud's fqdn is ``127.0.0.1:<port>``, served over plain HTTP."""
    fqdn = ((props.get("configuration") or {}).get("ingress") or {}).get("fqdn")
    if not fqdn:
        return None
    local = str(fqdn).rpartition(":")[0] in {"127.0.0.1", "localhost"}
    return f"{'http' if local else 'https'}://{fqdn}"


def current(api: Api, app: AzureAppDeployment) -> Running:
    """The app's current image (of ``app.container``, or its only container), revision,
    variables and secrets.

    When the newest revision never became ready (it failed), what serves is the latest
    ready one: its image is the current one, so a release after a failure deploys again."""
    path = app_path(api.account, app)
    props = api.call("GET", path).get("properties", {})
    template = props.get("template", {})
    ready = props.get("latestReadyRevisionName")
    if ready and ready != props.get("latestRevisionName"):
        template = api.call("GET", f"{path}/revisions/{ready}").get("properties", {}).get(
            "template", {})
        props = {**props, "latestRevisionName": ready}
    containers = list(template.get("containers", []))
    container = containers[_index(containers, app.container)] if containers else {}
    image = container.get("image")
    revision = props.get("latestRevisionName")
    return Running(str(image) if image else None, str(revision) if revision else None,
                   app_settings.variables_of(container),
                   app_settings.secrets_of(props.get("configuration") or {}),
                   url=ingress_url(props))


def patch_body(api: Api, app: AzureAppDeployment, resource: dict[str, Any],
               image: str) -> dict[str, Any]:
    """The PATCH that runs ``image`` with the configured variables and Key Vault secrets.
    A secrets list replaces the app's whole list (JSON merge patch): its Key Vault
    references are carried as they are, its held values through listSecrets."""
    props = resource.get("properties", {})
    want = app_settings.wanted(app)
    refused = app_settings.identity_problem(resource, app, want)
    if refused is not None:
        raise refused
    template = with_image(props.get("template", {}), app.container, image)
    containers = list(template.get("containers", []))
    if not want.empty:
        index = _index(containers, app.container)
        containers[index] = app_settings.with_variables(containers[index], want)
    body: dict[str, Any] = {"template": {**template, "containers": containers}}
    configuration = props.get("configuration") or {}
    if app_settings.secrets_differ(want, app_settings.secrets_of(configuration)):
        values: dict[str, Any] = {}
        if app_settings.held_values(configuration, want):
            listed = api.call("POST", f"{app_path(api.account, app)}/listSecrets")
            values = {str(s.get("name")): s for s in listed.get("value", [])}
        body["configuration"] = {"secrets": app_settings.secrets_list(configuration, want,
                                                                      values)}
    # A suffix the template already has would name the new revision as an old one (merge
    # patch keeps it); secrets alone make no new revision, nor does the template of a
    # revision that failed (a retry of its image): each gets a new suffix.
    if "revisionSuffix" in template or body["template"] == props.get("template"):
        body["template"]["revisionSuffix"] = app_settings.revision_suffix(
            str(props.get("latestRevisionName")),
            {"image": image, "secrets": body.get("configuration", {}).get("secrets", [])})
    return {"properties": body}


def deploy(api: Api, app: AzureAppDeployment, image: str, wait: Wait, *,
           hold_traffic_on: str | None = None) -> str:
    """Point the app at ``image`` (``registry/repo@sha256:...``); return the running revision.

    ``hold_traffic_on`` (a canary): the app goes to Multiple revision mode with all traffic
    on that revision, so the new one starts with none. Otherwise an app in Multiple mode
    sends all traffic to the latest revision once it is ready (as Single mode does)."""
    path = app_path(api.account, app)
    current = api.call("GET", path)
    before = current.get("properties", {}).get("latestRevisionName")
    body = patch_body(api, app, current, image)
    traffic = _traffic(current.get("properties", {}), hold_traffic_on)
    if traffic is not None:
        body["properties"]["configuration"] = {**body["properties"].get("configuration", {}),
                                               **traffic}
    api.call("PATCH", path, body)
    wait.log(f"{app.name}: image set to {image}, waiting for the new revision")
    return await_revision(api, app, str(before), image, wait)


def _traffic(props: dict[str, Any], hold: str | None) -> dict[str, Any] | None:
    """The configuration a PATCH adds for the traffic (merge patch: ingress merges)."""
    if hold is not None:
        return {"activeRevisionsMode": "Multiple",
                "ingress": {"traffic": [{"revisionName": hold, "weight": 100}]}}
    configuration = props.get("configuration") or {}
    if configuration.get("activeRevisionsMode") == "Multiple" and configuration.get("ingress"):
        return {"ingress": {"traffic": [{"latestRevision": True, "weight": 100}]}}
    return None


def await_revision(api: Api, app: AzureAppDeployment, before: str, image: str,
                   wait: Wait) -> str:
    """Wait until the app's newest revision (not ``before``) runs ``image``; its name."""
    path = app_path(api.account, app)
    started = wait.clock()
    while True:
        revision = api.call("GET", path).get("properties", {}).get("latestRevisionName")
        if revision and revision != before:
            state = api.call("GET", f"{path}/revisions/{revision}").get("properties", {})
            if _settled(app, revision, state, image):
                return str(revision)
        if wait.clock() - started > wait.deadline_seconds:
            raise ReleaseError(
                f"{app.name}: revision {revision or '(none yet)'} not running after "
                f"{int(wait.deadline_seconds)}s",
                "look at the revision's system logs in the portal, or `az containerapp "
                "revision show`")
        wait.sleep(wait.interval)


def _settled(app: AzureAppDeployment, revision: str, state: dict[str, Any], image: str) -> bool:
    provisioning = state.get("provisioningState")
    running = state.get("runningState")
    if provisioning == "Failed" or running in {"Failed", "Degraded"}:
        reason = (state.get("provisioningError") or state.get("runningStateDetails")
                  or "no reason given")
        raise ReleaseError(f"{app.name}: revision {revision} is {provisioning}/{running}: "
                           f"{reason}", "fix the image or the app's configuration and "
                           "release again; the previous revision keeps serving")
    images = [c.get("image") for c in state.get("template", {}).get("containers", [])]
    if image not in images:
        raise ReleaseError(f"{app.name}: the newest revision {revision} runs {images}, not "
                           f"{image}: another deployment changed the app meanwhile",
                           "release again")
    return bool(provisioning == "Provisioned" and running in {"Running", "RunningAtMaxScale"})
