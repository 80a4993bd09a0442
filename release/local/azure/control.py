"""The Container Apps control plane: apps, revisions, operations, ingress listeners.

Requests change the apps (a new template starts a revision's replicas at once);
:meth:`ContainerApps.reconcile`, called every fraction of a second, moves each active
revision through its states, makes a Single-mode app's new revision the one that gets the
traffic once it is ready (deactivating the old one) and leaves the traffic where it was
when the new one fails, and points each app's listener at the ready replicas by weight.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release.local.azure import apps as model
from release.local.azure import identities
from release.local.azure.apps import ApiError, App, Revision
from release.local.azure.replicas import Runner

Key = tuple[str, str, str]  # subscription, resource group (lowercase), app name (lowercase)


@dataclass
class Operation:
    """An asynchronous PUT or PATCH: done when the revision it made settles."""

    id: str
    key: Key
    revision: str | None
    started: float
    ended: float | None = None


def _key(subscription: str, group: str, name: str) -> Key:
    return subscription.lower(), group.lower(), name.lower()


class ContainerApps:
    """What the management API serves, for one subscription."""

    def __init__(self, subscription: str, runner: Runner, listener: Callable[..., Any],
                 clock: Callable[[], float], *, location: str = "local",
                 tenant: str = "") -> None:
        self.subscription = subscription
        self.location, self.tenant = location, tenant
        self._runner, self._listener, self._clock = runner, listener, clock
        self._lock = threading.RLock()
        self._apps: dict[Key, App] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        self._ingress: dict[Key, Any] = {}
        self._targets: dict[Key, list[int]] = {}
        # Multiple mode: each active revision's own listener (its revision FQDN)
        self._revision_ingress: dict[tuple[Key, str], Any] = {}
        self.operations: dict[str, Operation] = {}

    # -- resource groups ----------------------------------------------------------------

    def put_group(self, subscription: str, group: str, body: Mapping[str, Any]
                  ) -> tuple[int, dict[str, Any]]:
        """Create or update a resource group (201 when new)."""
        self._subscription(subscription)
        with self._lock:
            existed = group.lower() in self._groups
            self._groups[group.lower()] = {
                "id": f"/subscriptions/{subscription}/resourceGroups/{group}", "name": group,
                "type": "Microsoft.Resources/resourceGroups",
                "location": str(body.get("location") or self.location),
                "tags": dict(body.get("tags") or {}),
                "properties": {"provisioningState": "Succeeded"}}
            return (200 if existed else 201), self._groups[group.lower()]

    def group(self, subscription: str, group: str) -> dict[str, Any]:
        """A resource group, or ResourceGroupNotFound."""
        self._subscription(subscription)
        with self._lock:
            found = self._groups.get(group.lower())
        if found is None:
            raise ApiError(404, "ResourceGroupNotFound",
                           f"Resource group '{group}' could not be found.")
        return found

    def _subscription(self, subscription: str) -> None:
        if subscription.lower() != self.subscription.lower():
            raise ApiError(404, "SubscriptionNotFound",
                           f"The subscription '{subscription}' could not be found.")

    # -- apps ---------------------------------------------------------------------------

    def app(self, subscription: str, group: str, name: str) -> App:
        """The app, or ResourceNotFound as ARM words it."""
        self.group(subscription, group)
        with self._lock:
            found = self._apps.get(_key(subscription, group, name))
        if found is None:
            raise ApiError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.App/containerApps/{name}' under resource "
                           f"group '{group}' was not found.")
        return found

    def put(self, subscription: str, group: str, name: str, body: Mapping[str, Any]
            ) -> tuple[int, App, Operation]:
        """Create the app, or replace its configuration and template (201 when new)."""
        self.group(subscription, group)
        props = body.get("properties") or {}
        if not model.APP_NAME.match(name):
            raise ApiError(400, "ContainerAppInvalidName", f"Invalid ContainerApp name '{name}'."
                           " A name must consist of lower case alphanumeric characters or '-',"
                           " start with a letter, end with an alphanumeric character and "
                           "cannot have '--'. The length must not be more than 32 characters.")
        if "--" in name:
            raise ApiError(400, "ContainerAppInvalidName", f"Invalid ContainerApp name '{name}'.")
        with self._lock:
            key = _key(subscription, group, name)
            app = self._apps.get(key)
            created = app is None
            if app is None:
                app = App(subscription, self.group(subscription, group)["name"], name,
                          str(body.get("location") or self.location), {}, {}, self._clock())
            new = model.merge({"configuration": {}, "template": {}}, props) if created else \
                {"configuration": props.get("configuration") or {},
                 "template": props.get("template") or {}}
            operation = self._change(key, app, new, body)
            self._apps[key] = app
        return (201 if created else 200), app, operation

    def patch(self, subscription: str, group: str, name: str, body: Mapping[str, Any]
              ) -> tuple[App, Operation]:
        """Merge ``body`` into the app (RFC 7386); a changed template makes a revision."""
        app = self.app(subscription, group, name)
        with self._lock:
            current = {"configuration": app.configuration, "template": app.template}
            new = model.merge(current, body.get("properties") or {})
            operation = self._change(_key(subscription, group, name), app, new, body)
        return app, operation

    def _change(self, key: Key, app: App, new: Mapping[str, Any],
                body: Mapping[str, Any]) -> Operation:
        configuration, template = dict(new.get("configuration") or {}), dict(new["template"])
        model.check_configuration(configuration)
        model.check_template(template)
        identity = identities.identity(body.get("identity"), app.identity, self.tenant)
        for secret in configuration.get("secrets") or []:  # a PATCH without values keeps them
            kept: dict[str, Any] = next((s for s in app.configuration.get("secrets") or []
                         if s.get("name") == secret.get("name")), {})
            if "value" not in secret and "value" in kept:
                secret["value"] = kept["value"]
        identities.check_secrets(configuration, identity)
        identities.check_secret_refs(template, configuration)
        revision = None
        if template != app.template or not app.revisions:
            name = model.revision_name(app.name, template, app.revisions)
            revision = Revision(name, copy.deepcopy(template), self._clock())
        app.configuration, app.template = configuration, template
        app.tags = dict(body.get("tags") or app.tags)
        app.identity = identity
        app.environment_id = str((body.get("properties") or {}).get("environmentId")
                                 or app.environment_id)
        self._ensure_ingress(key, app)
        if revision is not None:
            app.revisions[revision.name] = revision
            app.latest, app.provisioning = revision.name, "InProgress"
            self._runner.start(app, revision)
        operation = Operation(secrets.token_hex(16), key, revision.name if revision else None,
                              self._clock())
        self.operations[operation.id] = operation
        return operation

    def _ensure_ingress(self, key: Key, app: App) -> None:
        port = app.target_port
        listener = self._ingress.get(key)
        if listener is not None and (port is None or listener.container_port != port):
            listener.close()
            self._ingress.pop(key)
            self._targets.pop(key, None)
            listener = None
        if port is not None and listener is None:
            listener = self._listener(port, app.id)
            self._ingress[key] = listener
        app.port = listener.port if listener is not None else 0

    def all_apps(self, subscription: str, group: str | None) -> list[App]:
        """The subscription's (or the group's) apps."""
        self._subscription(subscription)
        with self._lock:
            return [a for a in self._apps.values()
                    if group is None or a.resource_group.lower() == group.lower()]

    def operation(self, operation_id: str) -> dict[str, Any]:
        """An operation's status document."""
        with self._lock:
            found = self.operations.get(operation_id)
            if found is None:
                raise ApiError(404, "OperationNotFound", f"operation {operation_id} not found")
            app = self._apps[found.key]
            revision = app.revisions.get(found.revision) if found.revision else None
        status, error = "Succeeded", None
        if revision is not None and revision.running == "Failed":
            status = "Failed"
            error = {"code": "ContainerAppOperationError", "message":
                     f"Failed to provision revision for container app '{app.name}'. Error "
                     f"details: {revision.error or revision.details}"}
        elif revision is not None and revision.running != "Running":
            status = "InProgress"
        if status != "InProgress" and found.ended is None:
            found.ended = self._clock()
        document: dict[str, Any] = {"id": f"{app.id}/operations/{found.id}", "name": found.id,
                                    "status": status, "startTime": model.iso(found.started)}
        if found.ended is not None:
            document["endTime"] = model.iso(found.ended)
        if error:
            document["error"] = error
        return document

    # -- the loop -----------------------------------------------------------------------

    def reconcile(self) -> None:
        """One pass over every app: revisions' states, traffic, listeners."""
        with self._lock:
            work = [(key, app, [r for r in app.revisions.values() if r.active])
                    for key, app in self._apps.items()]
        for key, app, active in work:
            ready = {r.name: self._runner.step(r) for r in active}
            with self._lock:
                self._settle(key, app, ready)

    def _settle(self, key: Key, app: App, ready: Mapping[str, list[int]]) -> None:
        latest = app.revisions.get(app.latest)
        if latest is not None and latest.running == "Running":
            app.latest_ready, app.provisioning = latest.name, "Succeeded"
            if app.mode == "Single":
                for revision in app.revisions.values():
                    if revision.active and revision.name != latest.name:
                        self._deactivate(revision, "replaced by " + latest.name)
        elif latest is not None and latest.running == "Failed" and latest.active:
            app.provisioning = "Failed"
            self._deactivate(latest, "the revision failed", failed=True)
        listener = self._ingress.get(key)
        targets = model.spread(model.weights(app), ready)
        if listener is not None and self._targets.get(key) != targets:
            listener.set_targets(targets)  # only on a change: it restarts the round robin
            self._targets[key] = targets
        self._revision_listeners(key, app, ready)

    def _revision_listeners(self, key: Key, app: App, ready: Mapping[str, list[int]]) -> None:
        """In Multiple mode each active revision answers on its own port, whatever its
        traffic weight (Azure's ``<app>--<suffix>.<environment domain>``): how a new
        revision is checked before it takes traffic."""
        port = app.target_port
        wanted = {r.name for r in app.revisions.values() if r.active} \
            if app.mode == "Multiple" and port is not None else set()
        for (owner, name), (listener, _) in list(self._revision_ingress.items()):
            if owner == key and (name not in wanted or listener.container_port != port):
                listener.close()
                del self._revision_ingress[(owner, name)]
                app.revisions[name].port = 0
        for name in wanted:
            listener, targets = self._revision_ingress.get((key, name), (None, None))
            if listener is None:
                listener = self._listener(port, f"{app.id}/revisions/{name}")
                app.revisions[name].port = listener.port
            pids = list(ready.get(name, []))
            if targets != pids:
                listener.set_targets(pids)
            self._revision_ingress[(key, name)] = (listener, pids)

    def revision_action(self, subscription: str, group: str, name: str, revision: str,
                        action: str) -> None:
        """POST .../revisions/{name}/activate|deactivate|restart."""
        app = self.app(subscription, group, name)
        with self._lock:
            found = next((r for n, r in app.revisions.items()
                          if n.lower() == revision.lower()), None)
            if found is None:
                raise ApiError(404, "ContainerAppRevisionNotFound",
                               f"Revision '{revision}' not found.")
            if action in ("deactivate", "restart") and found.active:
                if action == "deactivate" and model.weights(app).get(found.name, 0) > 0:
                    raise ApiError(400, "ContainerAppRevisionInvalidOperation",
                                   f"Revision '{found.name}' has traffic: set its weight to "
                                   "0 before deactivating it.")
                self._deactivate(found, f"{action} requested")
            if action in ("activate", "restart") and not found.active:
                found.active, found.error, found.details = True, "", ""
                found.provisioning, found.running, found.health = \
                    "Provisioning", "Processing", "None"
                found.created = self._clock()
                self._runner.start(app, found)

    def list_secrets(self, subscription: str, group: str, name: str) -> dict[str, Any]:
        """POST .../listSecrets: the app's secrets with the values it holds (a Key Vault
        reference's value is fetched by the replicas, never shown here)."""
        app = self.app(subscription, group, name)
        with self._lock:
            return {"value": [{k: s[k] for k in ("name", "value", "keyVaultUrl", "identity")
                               if k in s} for s in app.configuration.get("secrets") or []]}

    def _deactivate(self, revision: Revision, why: str, failed: bool = False) -> None:
        self._runner.stop(revision, why)
        revision.active = False
        if not failed:
            revision.running, revision.health = "Stopped", "None"

    def close(self) -> None:
        """Stop every replica and close every listener."""
        with self._lock:
            for app in self._apps.values():
                for revision in app.revisions.values():
                    if revision.active:
                        self._runner.stop(revision, "the local cloud stopped")
            for listener in self._ingress.values():
                listener.close()
            self._ingress.clear()
            for listener, _ in self._revision_ingress.values():
                listener.close()
            self._revision_ingress.clear()
