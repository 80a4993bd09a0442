"""Key Vault references of a container app: the checks and names, pure.

``azure_container_app.secrets: {NAME: https://<vault>.vault.azure.net/secrets/<name>}``
becomes a container-app secret ``{name, keyVaultUrl, identity}`` that the container's
variable ``NAME`` reads through ``secretRef``. Azure fetches the value with the app's
managed identity; release never sees it. The URL is checked strictly: it only names a
secret, but a value that is not such a URL is most likely the secret itself.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

# Key Vault's DNS suffixes: public cloud, Azure China, Azure US Government, Azure Germany.
VAULT_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net",
                  "vault.microsoftazure.de")
# Vault names: 3 to 24 letters, digits and '-', a letter first, no '--', not ending in '-'.
_VAULT = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]$")
_SECRET = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9a-f]{32}$")
# What Azure takes as a container-app secret name (az CLI's own check; 63 at most).
APP_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# A user-assigned managed identity's resource id (ARM compares ids case-insensitively).
USER_IDENTITY = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"/resourceGroups/[-\w.()]{1,90}/providers/Microsoft\.ManagedIdentity"
    r"/userAssignedIdentities/[A-Za-z0-9][A-Za-z0-9_-]{2,127}$", re.IGNORECASE | re.ASCII)
SYSTEM = "system"  # what the API takes for the app's system-assigned identity
ROLE = "Key Vault Secrets User"
ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6"  # Azure's built-in role definition id
FORM = "https://<vault>.vault.azure.net/secrets/<name>[/<version>]"


def url_problem(url: object) -> str | None:
    """Why ``url`` is not a Key Vault secret URL (never quoting it: it may be a secret);
    None when it is one."""
    if not isinstance(url, str) or not url:
        return "is not a Key Vault secret URL"
    if any(unicodedata.category(c)[0] in "CZ" for c in url):  # controls, marks, spaces
        return "holds a control character or a space"
    if not url.isascii():
        return "holds a character that is not ASCII"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        return "is not an https:// Key Vault secret URL"
    if "@" in parts.netloc or ":" in parts.netloc:
        return "names a user or a port; a Key Vault URL has neither"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "has a query or a fragment; a Key Vault secret URL has neither"
    if vault_of(url) is None:
        return (f"is not on a Key Vault host (<vault>.{VAULT_SUFFIXES[0]} or a sovereign "
                "cloud's suffix, the vault name 3-24 letters, digits and '-')")
    segments = parts.path.split("/")
    if not (len(segments) in {3, 4} and segments[0] == "" and segments[1] == "secrets"
            and _SECRET.match(segments[2])
            and (len(segments) == 3 or _VERSION.match(segments[3]))):
        return ("is not /secrets/<name> or /secrets/<name>/<version> (a name of letters, "
                "digits and '-'; a version of 32 hex digits)")
    return None


def vault_of(url: str) -> str | None:
    """``https://<vault>.<suffix>`` of a Key Vault URL, or None when its host is not one."""
    host = urllib.parse.urlsplit(url).hostname or ""
    for suffix in VAULT_SUFFIXES:
        name = host.removesuffix("." + suffix)
        if name != host and _VAULT.match(name):
            return f"https://{name}.{suffix}"
    return None


def secret_name(variable: str) -> str:
    """The container-app secret a variable reads: lowercased, '_' as '-', runs of '-' as
    one, none at either end (``DB_PASSWORD`` -> ``db-password``). May be invalid (empty,
    too long): check it with ``APP_SECRET_NAME``."""
    return re.sub("-+", "-", variable.lower().replace("_", "-")).strip("-")


def name_problems(variables: list[str]) -> dict[str, str]:
    """Per variable, why its secret name cannot be used (invalid, or shared with another)."""
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for variable in variables:
        name = secret_name(variable)
        if not APP_SECRET_NAME.match(name):
            problems[variable] = (f"its container-app secret name {name!r} is not 1 to 63 "
                                  "lowercase letters, digits and '-'")
        elif name in seen:
            problems[variable] = (f"it maps to the container-app secret {name!r}, as "
                                  f"{seen[name]} does")
        else:
            seen[name] = variable
    return problems


def identity_problem(identity: str) -> str | None:
    """Why ``identity`` is not a user-assigned identity's resource id; None when it is."""
    if USER_IDENTITY.match(identity):
        return None
    return ("is not the resource id of a user-assigned managed identity "
            "(/subscriptions/<id>/resourceGroups/<group>/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/<name>)")
