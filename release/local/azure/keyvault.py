"""The local cloud's Key Vault: secrets a container app's Key Vault references resolve to.

No DNS names a vault here: a reference ``https://<vault>.vault.azure.net/secrets/<name>
[/<version>]`` is looked up in ``<state dir>/azure/keyvault.json`` (mode 0600), written by
:func:`set_secret` (``release local key-vault set`` and the tests call it)::

    {"vaults": {"kv-batch": {"api-key": [{"version": "<32 hex>", "value": "..."}, ...]}}}

The last version of a name is its current one, as `az keyvault secret set` makes a new
version each time. A URL that is not on a Key Vault host is refused (the same check the
release's config applies), so nothing else can be asked for. Values are never logged.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from release.config import key_vault

KEY_VAULT_FILE = "keyvault.json"


class VaultError(Exception):
    """A reference that cannot be resolved: why, in Azure's words for the app's revision."""


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"vaults": {}}
    except (OSError, ValueError) as exc:
        raise VaultError(f"the local Key Vault store {path} is unreadable: "
                         f"{type(exc).__name__}") from None
    vaults = data.get("vaults") if isinstance(data, dict) else None
    return {"vaults": vaults if isinstance(vaults, dict) else {}}


def _parts(url: str) -> tuple[str, str, str | None]:
    """(vault, secret name, version or None) of a Key Vault secret URL; VaultError when it
    is not one."""
    problem = key_vault.url_problem(url)
    if problem is not None:
        raise VaultError(f"the Key Vault reference {problem}")
    parts = urllib.parse.urlsplit(url)
    vault = (parts.hostname or "").split(".", 1)[0]
    segments = parts.path.split("/")
    return vault, segments[2], (segments[3] if len(segments) == 4 else None)


def set_secret(path: Path, vault: str, name: str, value: str) -> str:
    """Add a new version of ``name`` in ``vault``; return its version id."""
    url = f"https://{vault}.vault.azure.net/secrets/{name}"
    _parts(url)  # the vault and secret names Key Vault takes, or VaultError
    if not value or "\x00" in value:
        raise VaultError("a Key Vault secret value is 1 or more characters, no NUL")
    data = _read(path)
    version = secrets.token_hex(16)
    data["vaults"].setdefault(vault, {}).setdefault(name, []).append(
        {"version": version, "value": value})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keyvault-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return version


def resolve(path: Path, url: str, identity: str, secret: str) -> str:
    """The value ``url`` names (its current version unless the URL pins one). VaultError
    worded as Azure reports a reference the app's identity cannot fetch."""
    vault, name, version = _parts(url)
    versions = _read(path)["vaults"].get(vault, {}).get(name) or []
    chosen = [v for v in versions if isinstance(v, dict)
              and (version is None or v.get("version") == version)]
    if not chosen or not isinstance(chosen[-1].get("value"), str):
        raise VaultError(f"Unable to get value using Managed identity {identity} for secret "
                         f"{secret}. Error: unable to fetch secret '{secret}' using Managed "
                         f"identity '{identity}'")
    return str(chosen[-1]["value"])
