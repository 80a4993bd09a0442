"""Container apps and their revisions as the management API shows them. Pure: no I/O.

Shapes follow the published REST API (Microsoft.App, api-version 2024-03-01): an app's
``properties`` carry ``provisioningState``, ``latestRevisionName``,
``latestReadyRevisionName``, ``latestRevisionFqdn``, ``configuration`` (with
``activeRevisionsMode`` and ``ingress.fqdn`` / ``ingress.traffic``) and ``template``; a
revision's carry ``provisioningState`` (Provisioning, Provisioned, Failed, Deprovisioning,
Deprovisioned), ``runningState`` (Processing, Running, Degraded, Failed, Stopped),
``healthState``, ``active``, ``replicas``, ``trafficWeight``, ``provisioningError`` and
``runningStateDetails``. A change to ``template`` makes a new revision named
``<app>--<suffix>``; a change to ``configuration`` alone does not.

Locally an app's ingress is a port on 127.0.0.1, so its ``fqdn`` is ``127.0.0.1:<port>``
(reached over plain HTTP).
"""

from __future__ import annotations

import copy
import datetime
import math
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_VERSIONS = ("2022-03-01", "2022-10-01", "2023-05-01", "2024-03-01", "2025-01-01")
SUFFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


class ApiError(Exception):
    """An ARM error answer: HTTP status, ``error.code`` and ``error.message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        """``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


def iso(seconds: float) -> str:
    """ARM's timestamps: ISO 8601 in UTC."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace(
        "+00:00", "Z")


@dataclass
class Revision:
    """One revision: its template and where it is in its life."""

    name: str
    template: dict[str, Any]
    created: float
    active: bool = True
    provisioning: str = "Provisioning"
    running: str = "Processing"
    health: str = "None"
    error: str = ""  # provisioningError
    details: str = ""  # runningStateDetails
    replicas: int = 0
    port: int = 0  # its own listener in Multiple mode (its revision FQDN); 0: none


@dataclass
class App:
    """One container app."""

    subscription: str
    resource_group: str
    name: str
    location: str
    configuration: dict[str, Any]
    template: dict[str, Any]
    created: float
    port: int = 0  # the ingress listener on 127.0.0.1
    tags: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=lambda: {"type": "None"})
    environment_id: str = ""
    revisions: dict[str, Revision] = field(default_factory=dict)
    latest: str = ""
    latest_ready: str = ""
    provisioning: str = "InProgress"

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.App/containerApps/{self.name}")

    @property
    def fqdn(self) -> str:
        """Where the ingress answers: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        """``configuration.activeRevisionsMode``: Single (the default) or Multiple."""
        return str(self.configuration.get("activeRevisionsMode") or "Single")

    @property
    def target_port(self) -> int | None:
        """The container port the ingress sends requests to (None: no ingress)."""
        port = (self.configuration.get("ingress") or {}).get("targetPort")
        return int(port) if isinstance(port, int) else None


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): objects merge, ``null`` removes, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _invalid(message: str) -> ApiError:
    return ApiError(400, "ContainerAppInvalidRequest", message)


def check_template(template: Mapping[str, Any]) -> None:
    """Refuse a template without containers, or a container without a name and image."""
    containers = template.get("containers")
    if not isinstance(containers, list) or not containers:
        raise _invalid("properties.template.containers must hold at least one container")
    for container in containers:
        if not isinstance(container, Mapping) or not container.get("name") \
                or not container.get("image"):
            raise _invalid("each container needs a name and an image")
    scale = template.get("scale") or {}
    low, high = scale.get("minReplicas", 1), scale.get("maxReplicas", 10)
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high <= 300):
        raise _invalid(f"scale: minReplicas {low} and maxReplicas {high} must be 0..300, "
                       "min <= max")
    suffix = template.get("revisionSuffix")
    if suffix and (not isinstance(suffix, str) or not SUFFIX.match(suffix)):
        raise _invalid(f"revisionSuffix {suffix!r}: lowercase letters, digits and '-'")


def check_configuration(config: Mapping[str, Any]) -> None:
    """Refuse a bad mode, a bad ingress port, or traffic weights that do not add up to 100."""
    if config.get("activeRevisionsMode", "Single") not in ("Single", "Multiple"):
        raise _invalid("activeRevisionsMode is Single or Multiple")
    ingress = config.get("ingress")
    if ingress is None:
        return
    port = ingress.get("targetPort")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise _invalid(f"ingress.targetPort {port!r} must be a port number")
    traffic = ingress.get("traffic") or []
    weights = [t.get("weight", 0) for t in traffic]
    if traffic and (any(not isinstance(w, int) or w < 0 for w in weights) or sum(weights) != 100):
        raise _invalid(f"ingress.traffic weights {weights} must be whole numbers adding up "
                       "to 100")


def revision_name(app: str, template: Mapping[str, Any], taken: Mapping[str, Any]) -> str:
    """``<app>--<revisionSuffix>``, or ``<app>--<7 random characters>`` as Azure makes."""
    suffix = template.get("revisionSuffix")
    if suffix:
        name = f"{app}--{suffix}"
        if name in taken:
            raise ApiError(400, "ContainerAppRevisionSuffixConflict",
                           f"revision with suffix {suffix} already exists")
        return name
    alphabet = string.ascii_lowercase + string.digits
    while True:
        name = f"{app}--{''.join(secrets.choice(alphabet) for _ in range(7))}"
        if name not in taken:
            return name


def replicas(template: Mapping[str, Any]) -> int:
    """How many replicas a revision runs: ``scale.minReplicas`` (at least one, as with
    ingress traffic coming in), never above ``maxReplicas``."""
    scale = template.get("scale") or {}
    return max(1, min(int(scale.get("minReplicas", 1) or 1), int(scale.get("maxReplicas", 10))))


def weights(app: App) -> dict[str, int]:
    """Traffic per revision name: Single mode sends everything to the latest ready
    revision; Multiple mode follows ``ingress.traffic`` (``latestRevision: true`` entries go
    to the latest ready revision)."""
    if not app.latest_ready:
        return {}
    traffic = (app.configuration.get("ingress") or {}).get("traffic") or []
    if app.mode == "Single" or not traffic:
        return {app.latest_ready: 100}
    found: dict[str, int] = {}
    for entry in traffic:
        name = app.latest_ready if entry.get("latestRevision") else entry.get("revisionName")
        if name in app.revisions and int(entry.get("weight", 0)) > 0:
            found[name] = found.get(name, 0) + int(entry["weight"])
    return found


def spread(shares: Mapping[str, int], pids: Mapping[str, list[int]]) -> list[int]:
    """The listener's round robin: each revision's ready replicas, each repeated so that the
    revisions get requests in proportion to their weights."""
    live = {name: weight for name, weight in shares.items() if weight > 0 and pids.get(name)}
    if not live:
        return []
    per_replica = {name: weight / len(pids[name]) for name, weight in live.items()}
    unit = math.gcd(*[int(w * 1000) for w in per_replica.values()]) or 1
    return [pid for name, weight in per_replica.items()
            for pid in pids[name] for _ in range(max(1, int(weight * 1000) // unit))]


def app_json(app: App) -> dict[str, Any]:
    """The app as GET returns it."""
    configuration = copy.deepcopy(app.configuration)
    configuration.setdefault("activeRevisionsMode", "Single")
    ingress = configuration.get("ingress")
    if ingress is not None:
        ingress["fqdn"] = app.fqdn
        ingress.setdefault("traffic", [{"weight": 100, "latestRevision": True}])
    for secret in configuration.get("secrets") or []:
        secret.pop("value", None)  # GET never shows secret values (listSecrets does)
    return {"id": app.id, "name": app.name, "type": "Microsoft.App/containerApps",
            "location": app.location, "tags": dict(app.tags), "identity": app.identity,
            "systemData": {"createdAt": iso(app.created), "createdByType": "Application"},
            "properties": {
                "provisioningState": app.provisioning,
                "runningStatus": "Running" if app.latest_ready else "Stopped",
                "managedEnvironmentId": app.environment_id,
                "environmentId": app.environment_id,
                "latestRevisionName": app.latest or None,
                "latestReadyRevisionName": app.latest_ready or None,
                "latestRevisionFqdn": app.fqdn if app.latest else None,
                "outboundIpAddresses": ["127.0.0.1"],
                "configuration": configuration,
                "template": copy.deepcopy(app.template)}}


def revision_json(app: App, revision: Revision) -> dict[str, Any]:
    """A revision as GET .../revisions/{name} returns it."""
    props: dict[str, Any] = {
        "createdTime": iso(revision.created), "lastActiveTime": iso(revision.created),
        "fqdn": f"127.0.0.1:{revision.port}" if revision.port else app.fqdn,
        "template": copy.deepcopy(revision.template),
        "active": revision.active, "replicas": revision.replicas,
        "trafficWeight": weights(app).get(revision.name, 0),
        "healthState": revision.health, "provisioningState": revision.provisioning,
        "runningState": revision.running}
    if revision.error:
        props["provisioningError"] = revision.error
    if revision.details:
        props["runningStateDetails"] = revision.details
    return {"id": f"{app.id}/revisions/{revision.name}", "name": revision.name,
            "type": "Microsoft.App/containerApps/revisions", "properties": props}
