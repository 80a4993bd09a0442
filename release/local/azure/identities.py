"""A container app's managed identities and the secrets that use them, checked as Azure
checks them on PUT and PATCH. Pure: no I/O.

``identity`` follows ARM's ManagedServiceIdentity: ``type`` is ``None``,
``SystemAssigned``, ``UserAssigned`` or ``SystemAssigned,UserAssigned``;
``userAssignedIdentities`` maps resource ids to ``{}`` on the way in and to
``{principalId, clientId}`` on the way out; a system-assigned identity gets a
``principalId`` and ``tenantId``. ``configuration.secrets`` entries hold either a
``value`` or a ``keyVaultUrl`` with the ``identity`` that reads it (``system`` or a
user-assigned identity's resource id), which must be assigned to the app.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from release.config import key_vault
from release.local.azure.apps import ApiError

TYPES = {"none": "None", "systemassigned": "SystemAssigned", "userassigned": "UserAssigned",
         "systemassigned,userassigned": "SystemAssigned,UserAssigned"}
INVALID = "InvalidParameterValueInContainerTemplate"
PREFIX = "The following field(s) are either invalid or missing. "


def _refuse(field: str, name: str, why: str) -> ApiError:
    return ApiError(400, INVALID, f"{PREFIX}Field '{field}' is invalid with details: "
                                  f"'Invalid value: \"{name}\": {why}';.")


def identity(given: Mapping[str, Any] | None, kept: Mapping[str, Any],
             tenant: str) -> dict[str, Any]:
    """The app's identity after a PUT/PATCH carrying ``given`` (None: unchanged), with ids
    kept for identities that stay assigned and new ones for the others."""
    if given is None:
        return dict(kept)
    kind = TYPES.get(str(given.get("type") or "None").replace(" ", "").lower())
    if kind is None:
        raise ApiError(400, "InvalidIdentityType", f"identity type {given.get('type')!r} is "
                       "not None, SystemAssigned, UserAssigned or SystemAssigned,UserAssigned")
    users = given.get("userAssignedIdentities") or {}
    if not isinstance(users, Mapping) or ("UserAssigned" in kind) != bool(users):
        raise ApiError(400, "InvalidIdentityType", "userAssignedIdentities must name the "
                       "user-assigned identities exactly when the type includes UserAssigned")
    made: dict[str, Any] = {"type": kind}
    if "SystemAssigned" in kind:
        made["principalId"] = kept.get("principalId") or str(uuid.uuid4())
        made["tenantId"] = tenant
    if users:
        held = {k.lower(): v for k, v in (kept.get("userAssignedIdentities") or {}).items()}
        made["userAssignedIdentities"] = {}
        for resource_id in users:
            if key_vault.identity_problem(str(resource_id)) is not None:
                raise ApiError(400, "InvalidUserAssignedIdentity", f"'{resource_id}' is not "
                               "a user-assigned identity's resource id")
            made["userAssignedIdentities"][resource_id] = held.get(str(resource_id).lower()) \
                or {"principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())}
    return made


def check_secrets(configuration: Mapping[str, Any], app_identity: Mapping[str, Any]) -> None:
    """Refuse a secret without a valid name, with neither (or both) a value and a Key Vault
    URL, with a URL not on a Key Vault host, or naming an identity the app does not have."""
    kind = str(app_identity.get("type") or "None")
    users = {str(k).lower() for k in app_identity.get("userAssignedIdentities") or {}}
    seen: set[str] = set()
    for secret in configuration.get("secrets") or []:
        name = str(secret.get("name") or "") if isinstance(secret, Mapping) else ""
        if not key_vault.APP_SECRET_NAME.match(name) or name in seen:
            raise _refuse("configuration.secrets", name, "a secret name is 1 to 63 lowercase "
                          "letters, digits and '-', once per app")
        seen.add(name)
        url = secret.get("keyVaultUrl")
        if (url is None) == (secret.get("value") is None):
            raise _refuse("configuration.secrets", name, "a secret holds a value or a "
                          "keyVaultUrl")
        if url is None:
            continue
        problem = key_vault.url_problem(url)
        if problem is not None:
            raise ApiError(400, "ContainerAppSecretKeyVaultUrlInvalid",
                           f"Secret '{name}': the keyVaultUrl {problem}.")
        wanted = str(secret.get("identity") or "")
        assigned = ("SystemAssigned" in kind if wanted.lower() == "system"
                    else wanted.lower() in users)
        if not assigned:
            raise _refuse("configuration.secrets", name, f"Managed identity '{wanted}' is "
                          "not assigned to the container app")


def check_secret_refs(template: Mapping[str, Any], configuration: Mapping[str, Any]) -> None:
    """Refuse a container variable whose ``secretRef`` names no secret of the app."""
    names = {str(s.get("name")) for s in configuration.get("secrets") or []
             if isinstance(s, Mapping)}
    for container in template.get("containers") or []:
        for variable in container.get("env") or []:
            ref = variable.get("secretRef") if isinstance(variable, Mapping) else None
            if ref is not None and ref not in names:
                raise _refuse("template.containers.env.secretRef", str(ref),
                              f"Unable to locate secret with name {ref}")
