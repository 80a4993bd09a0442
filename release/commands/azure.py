"""``release azure role --env ENV``: the role assignments a container app's identity needs.

A container app reads its Key Vault references (``azure_container_app.secrets``) with its
managed identity: the system-assigned one, or ``azure_container_app.identity``. That
identity needs Azure's built-in role Key Vault Secrets User on each vault it reads. This
prints, per app and vault, the ``az role assignment create`` call and the role assignment
body (PUT .../roleAssignments/<new guid>); it reads the config only, no cloud.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import key_vault, load_config
from release.config.model import Environment
from release.output import envelope


@dataclass(frozen=True)
class Options:
    """Which environment."""

    root: Path
    environment: str


@dataclass(frozen=True)
class Assignment:
    """One identity's role on one vault, for the secrets one app reads there."""

    service: str
    app: str
    resource_group: str
    subscription_id: str
    vault: str  # https://<vault>.<suffix>
    identity: str  # "system" or a user-assigned identity's resource id
    secrets: tuple[str, ...]  # the Key Vault secret URLs the app reads there

    @property
    def vault_name(self) -> str:
        """The vault's name (its host's first label)."""
        return self.vault.removeprefix("https://").split(".", 1)[0]

    def principal(self) -> str:
        """A shell expression for the identity's principal (object) id."""
        if self.identity == key_vault.SYSTEM:
            query = (f"az containerapp show -n {shlex.quote(self.app)} -g "
                     f"{shlex.quote(self.resource_group)} --query identity.principalId -o tsv")
        else:
            query = (f"az identity show --ids {shlex.quote(self.identity)} "
                     "--query principalId -o tsv")
        return f'"$({query})"'

    def command(self) -> str:
        """The ``az role assignment create`` call."""
        scope = f'"$(az keyvault show --name {shlex.quote(self.vault_name)} --query id -o tsv)"'
        return (f"az role assignment create --role {shlex.quote(key_vault.ROLE)} \\\n"
                f"  --assignee-object-id {self.principal()} \\\n"
                f"  --assignee-principal-type ServicePrincipal \\\n  --scope {scope}")

    def body(self) -> dict[str, Any]:
        """The role assignment as the Authorization API takes it."""
        who = ("the app's system-assigned identity" if self.identity == key_vault.SYSTEM
               else self.identity.rsplit("/", 1)[-1])
        return {"properties": {
            "roleDefinitionId": (f"/subscriptions/{self.subscription_id}/providers/"
                                 f"Microsoft.Authorization/roleDefinitions/{key_vault.ROLE_ID}"),
            "principalId": f"<principal id of {who}>",
            "principalType": "ServicePrincipal"}}

    def to_dict(self) -> dict[str, Any]:
        """Everything, for ``--output json``."""
        return {"service": self.service, "app": self.app, "resource_group": self.resource_group,
                "vault": self.vault, "identity": self.identity, "role": key_vault.ROLE,
                "secrets": list(self.secrets), "command": self.command(), "body": self.body()}


@dataclass(frozen=True)
class Result:
    """The environment's role assignments (none when no app reads Key Vault)."""

    environment: str
    assignments: tuple[Assignment, ...]

    def to_text(self) -> str:
        """Each assignment as a comment, the ``az`` call and the body."""
        if not self.assignments:
            return (f"# No container app in {self.environment} reads Key Vault secrets "
                    "(azure_container_app.secrets): no role to assign.")
        lines: list[str] = []
        for one in self.assignments:
            who = ("its system-assigned identity" if one.identity == key_vault.SYSTEM
                   else f"the identity {one.identity}")
            lines += [f"# {one.service}: container app {one.app} ({one.resource_group}) reads "
                      f"{len(one.secrets)} secret(s) from {one.vault} with {who}:",
                      *(f"#   {url}" for url in one.secrets),
                      f"# It needs {key_vault.ROLE} on the vault (a vault using access "
                      "policies instead: az keyvault set-policy --secret-permissions get).",
                      one.command(), "# or PUT .../roleAssignments/<new guid> with:",
                      json.dumps(one.body(), indent=2), ""]
        return "\n".join(lines).rstrip()

    def to_json(self) -> str:
        """Versioned JSON: one entry per app and vault."""
        return envelope("azure-role", {"environment": self.environment,
                                       "assignments": [a.to_dict() for a in self.assignments]})


def assignments(env: Environment) -> tuple[Assignment, ...]:
    """Per app and vault, what its identity must be granted, in service order."""
    out: list[Assignment] = []
    for name, dep in env.deployments.items():
        app = dep.azure_container_app
        if app is None or not app.secrets or env.azure is None:
            continue
        by_vault: dict[str, list[str]] = {}
        for url in app.secrets.values():
            vault = key_vault.vault_of(url)
            if vault is not None:  # the loader refused the others
                by_vault.setdefault(vault, []).append(url)
        out += [Assignment(name, app.name, app.resource_group, env.azure.subscription_id,
                           vault, app.identity or key_vault.SYSTEM, tuple(sorted(set(urls))))
                for vault, urls in sorted(by_vault.items())]
    return tuple(out)


def run(options: Options) -> Result:
    """The role assignments of one environment's container apps."""
    config = load_config(options.root, (options.environment,))
    return Result(options.environment, assignments(config.environments[options.environment]))


def register(sub: Any) -> None:
    """Add ``azure role`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "azure", help="Azure settings for the environment's container apps",
        description="Print what Azure needs granted for the environment's container apps.")
    verbs = parser.add_subparsers(dest="azure_verb", metavar="VERB", required=True)
    role = verbs.add_parser(
        "role", help="Key Vault role assignments of the container apps' identities",
        description="For each container app with Key Vault secrets (azure_container_app."
                    "secrets), the role its managed identity needs on each vault (Key Vault "
                    "Secrets User): the `az role assignment create` call and the role "
                    "assignment body. Reads the config only.")
    role.add_argument("--env", required=True, metavar="NAME", help="environment name")
    role.set_defaults(handler=lambda args: run(Options(args.root, args.env)))
