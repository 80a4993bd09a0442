"""A container app's variables and Key Vault references, as the management API takes them.

Pure: the app's resource document (a GET) and the configured values come in; the
``template`` and ``configuration.secrets`` of the PATCH go out. Only the variables and
secrets the configuration names are set; the app's others stay as they are. Values are
never rendered for people: a plan shows variable names, secret names and vault URLs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from release.config import key_vault
from release.config.credentials import find_secret
from release.config.model import AzureAppDeployment
from release.errors import ReleaseError

HIDDEN = "(a value, not shown)"


@dataclass(frozen=True)
class Wanted:
    """What the configuration sets: container variables by name (``{"value": ...}`` or
    ``{"secretRef": ...}``) and Key Vault secrets by secret name."""

    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the configuration sets neither."""
        return not self.variables and not self.secrets


def wanted(app: AzureAppDeployment) -> Wanted:
    """The variables and Key Vault references ``app`` configures."""
    identity = app.identity or key_vault.SYSTEM
    variables = {name: {"value": value} for name, value in app.environment.items()}
    variables.update({name: {"secretRef": key_vault.secret_name(name)} for name in app.secrets})
    secrets = {key_vault.secret_name(name): {"keyVaultUrl": url, "identity": identity}
               for name, url in app.secrets.items()}
    return Wanted(variables, secrets)


def _entry(raw: Mapping[str, Any]) -> dict[str, str]:
    """A variable or a secret as compared: only the fields that decide what it holds."""
    keys = ("value", "secretRef", "keyVaultUrl", "identity")
    out = {k: str(raw[k]) for k in keys if raw.get(k) is not None}
    if "identity" in out:  # the API answers "System" for what it was given as "system"
        out["identity"] = out["identity"].lower() if out["identity"].lower() == \
            key_vault.SYSTEM else out["identity"]
    return out


def variables_of(container: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A container's ``env`` by name."""
    return {str(e.get("name")): _entry(e) for e in container.get("env", []) or []
            if isinstance(e, Mapping)}


def secrets_of(configuration: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The app's secrets by name: Key Vault references with their URL and identity; a
    secret holding a value shows none (a GET never returns values)."""
    return {str(s.get("name")): _entry({**s, "value": None})
            for s in configuration.get("secrets", []) or [] if isinstance(s, Mapping)}


def differs(want: Wanted, variables: Mapping[str, Mapping[str, str]],
            secrets: Mapping[str, Mapping[str, str]]) -> bool:
    """True when a configured variable or secret is missing or holds something else."""
    return (any(not _same(variables.get(n), v) for n, v in want.variables.items())
            or secrets_differ(want, secrets))


def secrets_differ(want: Wanted, secrets: Mapping[str, Mapping[str, str]]) -> bool:
    """True when a configured Key Vault secret is missing or names another URL or identity."""
    return any(not _same(secrets.get(n), s) for n, s in want.secrets.items())


def _same(now: Mapping[str, str] | None, want: Mapping[str, str]) -> bool:
    if now is None:
        return False
    if "identity" in want:
        return (now.get("keyVaultUrl") == want["keyVaultUrl"]
                and (now.get("identity") or "").lower() == want["identity"].lower())
    return dict(now) == dict(want)


def shown(want: Wanted, variables: Mapping[str, Mapping[str, str]],
          secrets: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """What a plan shows of the configured names: a value only where the configuration
    holds it in plain text (and it does not look like a credential), never a secret's."""
    env: dict[str, str] = {}
    refs: dict[str, str] = {}
    for name in want.variables:
        entry = variables.get(name)
        if entry is None:
            continue
        if "secretRef" in entry:
            refs[name] = f"secretref:{entry['secretRef']}"
        else:
            value = entry.get("value", "")
            plain = "value" in want.variables[name]  # configured in plain text
            env[name] = value if plain and find_secret(name, value) is None else HIDDEN
    vault = {name: f"{s['keyVaultUrl']} (identity {s.get('identity', '?')})"
             for name, s in secrets.items() if name in want.secrets and "keyVaultUrl" in s}
    vault.update({name: "(a value held by the app)" for name, s in secrets.items()
                  if name in want.secrets and "keyVaultUrl" not in s})
    return {"environment": env, "secrets": refs, "key_vault_secrets": vault}


def with_variables(container: Mapping[str, Any], want: Wanted) -> dict[str, Any]:
    """``container`` with the configured variables set (in place, or appended by name)."""
    env = [dict(e) for e in container.get("env", []) or [] if isinstance(e, Mapping)]
    names = [e.get("name") for e in env]
    for name in sorted(want.variables):
        entry = {"name": name, **want.variables[name]}
        if name in names:
            env[names.index(name)] = entry
        else:
            env.append(entry)
    return {**container, "env": env}


def held_values(configuration: Mapping[str, Any], want: Wanted) -> list[str]:
    """Names of the app's secrets holding values that a new secrets list must carry over
    (the list replaces the app's whole list, and a GET returns no values)."""
    return [name for name, s in secrets_of(configuration).items()
            if name not in want.secrets and "keyVaultUrl" not in s]


def secrets_list(configuration: Mapping[str, Any], want: Wanted,
                 values: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The app's whole new secrets list: its own (Key Vault references as they are, held
    values from ``values``, the app's listSecrets answer) and the configured ones."""
    out: list[dict[str, Any]] = []
    for raw in configuration.get("secrets", []) or []:
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if not isinstance(name, str) or name in want.secrets:
            continue
        if raw.get("keyVaultUrl"):
            out.append({k: raw[k] for k in ("name", "keyVaultUrl", "identity") if raw.get(k)})
        elif name in values and values[name].get("value") is not None:
            out.append({"name": name, "value": values[name]["value"]})
        else:
            raise ReleaseError(f"the app's secret {name!r} holds a value the management API "
                               "did not list", "retry; or move it to Key Vault")
    out.extend({"name": name, **entry} for name, entry in sorted(want.secrets.items()))
    return out


def identity_problem(resource: Mapping[str, Any], app: AzureAppDeployment,
                     want: Wanted) -> ReleaseError | None:
    """Why the app cannot read its Key Vault references: the identity they name is not
    assigned to it. None when it is (or no reference is configured)."""
    if not want.secrets:
        return None
    identity = resource.get("identity") or {}
    kind = str(identity.get("type") or "None").replace(" ", "").lower().split(",")
    where = f"-n {app.name} -g {app.resource_group}"
    if app.identity is None:
        if "systemassigned" in kind:
            return None
        return ReleaseError(
            f"{app.name}: the app has no system-assigned identity to read its Key Vault "
            "secrets with",
            f"az containerapp identity assign {where} --system-assigned; then grant it the "
            "vault role that `release azure role` prints (or set azure_container_app."
            "identity to a user-assigned identity)")
    assigned = [str(k).lower() for k in (identity.get("userAssignedIdentities") or {})]
    if app.identity.lower() in assigned:
        return None
    return ReleaseError(
        f"{app.name}: the identity {app.identity.rsplit('/', 1)[-1]!r} is not assigned to "
        "the app", f"az containerapp identity assign {where} --user-assigned {app.identity}")



def revision_suffix(previous: str, change: Mapping[str, Any]) -> str:
    """A revision suffix for the revision after ``previous``: new after each revision (Azure
    refuses a suffix used before), the same for the same change; no secret value in it."""
    secrets = [{k: v for k, v in s.items() if k != "value"} for s in change.get("secrets", [])]
    shape = {**change, "secrets": secrets}
    digest = hashlib.sha256(json.dumps([previous, shape], sort_keys=True).encode())
    return "r-" + digest.hexdigest()[:10]
