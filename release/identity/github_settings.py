"""The GitHub settings that go with a trust policy, as ``gh api`` calls: the repository's
OIDC subject customisation, and the environment's deployment branches and reviewers."""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from release.identity.trust import Binding

MAX_REVIEWERS = 6  # GitHub's limit for an environment's required reviewers
_PRODUCTION = re.compile(r"^(?:prod|production)(?:-[a-z0-9-]+)?$")
_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_TEAM = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class GhApiCall:
    """One GitHub REST call, run with the gh CLI by a repository admin."""

    purpose: str
    method: Literal["PUT", "POST"]
    path: str  # e.g. repos/OWNER/REPO/environments/prod
    body: dict[str, Any]
    # (placeholder in body, gh command printing the value): ids looked up when it runs
    lookups: tuple[tuple[str, str], ...] = field(default=())

    def command(self) -> str:
        """The shell command: ``-f``/``-F`` fields for a flat body, else JSON on stdin."""
        head = f"gh api --method {self.method} {shlex.quote(self.path)}"
        if not self.lookups and all(_flat(v) for v in self.body.values()):
            return " ".join([head, *_fields(self.body)])
        text = json.dumps(self.body)
        for placeholder, lookup in self.lookups:
            text = text.replace(json.dumps(placeholder), f"$({lookup})")
        # An unquoted heredoc expands the $(...) lookups; every other character is checked
        # literal (names, refs) or written by json.dumps.
        marker = "EOF" if self.lookups else "'EOF'"
        return f"{head} --input - <<{marker}\n{text}\nEOF"

    def to_dict(self) -> dict[str, Any]:
        """For the JSON envelope: the request and the command that makes it."""
        return {"purpose": self.purpose, "method": self.method, "path": self.path,
                "body": self.body, "command": self.command()}


def _flat(value: Any) -> bool:
    return isinstance(value, (str, bool, int)) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value))


def _fields(body: dict[str, Any]) -> list[str]:
    out = []
    for key, value in body.items():
        for one in value if isinstance(value, list) else [value]:
            name = f"{key}[]" if isinstance(value, list) else key
            if isinstance(one, bool):
                out.append(f"-F {shlex.quote(f'{name}={str(one).lower()}')}")
            else:
                out.append(f"-f {shlex.quote(f'{name}={one}')}")
    return out


def _repo_path(repository: str) -> str:
    owner, repo = repository.split("/", 1)
    return f"repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(repo, safe='')}"


def subject_customization(repository: str, claim_keys: Iterable[str]) -> GhApiCall:
    """``PUT /repos/{owner}/{repo}/actions/oidc/customization/sub``: tokens of the repository's
    jobs get subjects made of ``claim_keys`` (``("repo", "context")`` is GitHub's default)."""
    return GhApiCall(
        "customise the OIDC subject of this repository's tokens (the trust policy's sub "
        "names these claims)", "PUT", f"{_repo_path(repository)}/actions/oidc/customization/sub",
        {"use_default": False, "include_claim_keys": list(claim_keys)})


def default_subject(repository: str) -> GhApiCall:
    """The same call giving the repository back GitHub's default subject."""
    return GhApiCall("give the repository GitHub's default OIDC subject", "PUT",
                     f"{_repo_path(repository)}/actions/oidc/customization/sub",
                     {"use_default": True})


def production_like(environment: str) -> bool:
    """True for ``prod``, ``production``, ``prod-*`` and ``production-*``."""
    return bool(_PRODUCTION.match(environment.lower()))


@dataclass(frozen=True)
class Reviewer:
    """A required reviewer: a team (``ORG/TEAM-SLUG``) or a user (``LOGIN``)."""

    name: str

    @classmethod
    def parse(cls, name: str) -> Reviewer:
        """``name`` checked; ValueError saying the two forms."""
        if not (_TEAM.match(name) or _USER.match(name)):
            raise ValueError(f"--reviewer {name!r} is neither ORG/TEAM-SLUG (a team) nor a "
                             "user login")
        return cls(name)

    @property
    def kind(self) -> Literal["Team", "User"]:
        """GitHub's reviewer type."""
        return "Team" if "/" in self.name else "User"

    @property
    def lookup(self) -> str:
        """The gh command printing the reviewer's numeric id, which the API wants."""
        if self.kind == "Team":
            org, slug = self.name.split("/", 1)
            return f"gh api orgs/{org}/teams/{slug} --jq .id"
        return f"gh api users/{self.name} --jq .id"


PLACEHOLDER_TEAM = "TEAM"  # shown when a production environment has no --reviewer


def environment_protection(binding: Binding,
                           reviewers: tuple[Reviewer, ...] = ()) -> list[GhApiCall]:
    """The environment's deployments limited to the binding's branch (main by default) and,
    for a production-like environment or given reviewers, approved by a reviewer.

    ``PUT /repos/{owner}/{repo}/environments/{env}`` sets everything in one body (a PUT
    without a field may reset it), then ``POST .../deployment-branch-policies`` names the
    branch.
    """
    env_path = f"{_repo_path(binding.repository)}/environments/" \
               f"{urllib.parse.quote(binding.environment, safe='')}"
    body: dict[str, Any] = {"deployment_branch_policy": {"protected_branches": False,
                                                         "custom_branch_policies": True}}
    purpose = "only branches the next call names may deploy to the environment"
    lookups: tuple[tuple[str, str], ...] = ()
    if reviewers or production_like(binding.environment):
        owner = binding.repository.split("/", 1)[0]
        chosen = reviewers or (Reviewer(f"{owner}/{PLACEHOLDER_TEAM}"),)
        lookups = tuple((f"<id of {r.kind.lower()} {r.name}>", r.lookup) for r in chosen)
        body["reviewers"] = [{"type": r.kind, "id": placeholder}
                             for r, (placeholder, _) in zip(chosen, lookups, strict=True)]
        body["prevent_self_review"] = True
        purpose += ("; a reviewer other than the one who started the run approves each job"
                    + ("" if reviewers else f" (replace {PLACEHOLDER_TEAM} with the team that "
                       "approves, or pass --reviewer ORG/TEAM or --reviewer LOGIN)"))
    kind, _, name = binding.deployment_ref.removeprefix("refs/").partition("/")
    return [
        GhApiCall(purpose, "PUT", env_path, body, lookups),
        GhApiCall(f"deployments only from the {'branch' if kind == 'heads' else 'tag'} "
                  f"{name}", "POST", f"{env_path}/deployment-branch-policies",
                  {"name": name, "type": "branch" if kind == "heads" else "tag"}),
    ]
