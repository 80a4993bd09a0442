"""Our own rules for workflow and action files, in plain Python, each finding with a line.

- ``unpinned-uses``: every remote ``uses:`` is pinned to a 40-hex commit SHA (``./`` paths
  are local; ``docker://`` images need an ``@sha256:`` digest);
- ``expression-in-run``: no ``${{`` inside a ``run:`` (inputs go through ``env:``);
- ``top-level-permissions``: a workflow's top-level ``permissions`` exists and is read-only:
  ``{}`` or ``contents: read`` (other scopes ``read``/``none``);
- ``id-token-write``: ``id-token: write`` (or ``write-all``) only on jobs that authenticate:
  jobs that use an auth action (ours or a cloud vendor's) or sign an artifact attestation
  (``actions/attest*``), run ``release`` verbs that call the cloud, or call a reusable
  workflow (which can only get the token through its caller);
- ``untrusted-trigger-deploy``: no ``pull_request_target`` or ``workflow_run`` trigger in a
  workflow that reaches a deploy (an ``environment:``, a deploy action or ``release
  deploy|redeploy|rollback``, directly or through the local reusable workflows it calls).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SHA = re.compile(r"[0-9a-f]{40}")
# Our actions that reach the cloud with the job's OIDC token, and vendors' auth actions.
AUTH_USES = re.compile(r"(^|/)actions/(auth-aws|auth-azure|plan|build|deploy|redeploy|rollback"
                       r"|status|doctor)(@|$)|^(aws-actions/configure-aws-credentials|azure/login"
                       r"|google-github-actions/auth"
                       r"|actions/attest|actions/attest-build-provenance)@")  # Sigstore signing
AUTH_RUN = re.compile(r"\brelease\s+(auth|plan|build|deploy|redeploy|rollback|status|doctor)\b")
DEPLOY_USES = re.compile(r"(^|/)actions/(deploy|redeploy|rollback)(@|$)")
DEPLOY_RUN = re.compile(r"\brelease\s+(deploy|redeploy|rollback)\b")
UNTRUSTED_TRIGGERS = ("pull_request_target", "workflow_run")
READ_ONLY = {"read", "none"}


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, where (file and 1-based line), and what."""

    rule: str
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


@dataclass(frozen=True)
class Node:
    """A YAML value with the line it starts on; mappings keep the line of each key."""

    value: Any  # str | list[Node] | dict[str, Node]
    line: int
    key_lines: dict[str, int]
    raw: str = ""  # a scalar as written in the file (block indicator, quotes, line breaks)

    def get(self, key: str) -> Node | None:
        """The value under ``key`` of a mapping (None for anything else)."""
        return self.value.get(key) if isinstance(self.value, dict) else None

    def text(self, key: str) -> str | None:
        """The scalar under ``key``, as written."""
        found = self.get(key)
        return found.value if found is not None and isinstance(found.value, str) else None

    def items(self) -> Iterator[tuple[str, Node]]:
        """A mapping's entries (nothing for other values)."""
        if isinstance(self.value, dict):
            yield from self.value.items()

    def list(self) -> list[Node]:
        """A sequence's items (nothing for other values)."""
        return self.value if isinstance(self.value, list) else []


def _convert(node: yaml.Node, text: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        values = {str(k.value): _convert(v, text) for k, v in node.value}
        return Node(values, line, {str(k.value): k.start_mark.line + 1 for k, _ in node.value})
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(v, text) for v in node.value], line, {})
    return Node(str(node.value), line, {}, text[node.start_mark.index:node.end_mark.index])


def load(path: Path) -> Node:
    """A YAML file as Nodes; scalars stay as written (``on`` stays ``on``, not True)."""
    text = path.read_text("utf-8")
    composed = yaml.compose(text, Loader=yaml.SafeLoader)
    return _convert(composed, text) if composed is not None else Node({}, 1, {})


def line_of(doc: Node, path: list[str | int]) -> int:
    """The line of the value at a JSON path (as far as it goes), for schema errors."""
    node, line = doc, doc.line
    for part in path:
        if isinstance(part, int) and part < len(node.list()):
            node = node.list()[part]
            line = node.line
        elif isinstance(part, str) and node.get(part) is not None:
            line = node.key_lines[part]
            node = node.value[part]
        else:
            break
    return line


def _steps(doc: Node) -> Iterator[Node]:
    for _, job in doc.get("jobs").items() if doc.get("jobs") else ():
        yield from job.get("steps").list() if job.get("steps") else ()
    runs = doc.get("runs")
    if runs is not None and runs.get("steps") is not None:
        yield from runs.get("steps").list()  # type: ignore[union-attr]


def _uses(doc: Node) -> Iterator[tuple[str, int]]:
    for step in _steps(doc):
        if step.text("uses") is not None:
            yield step.text("uses") or "", step.key_lines["uses"]
    for _, job in doc.get("jobs").items() if doc.get("jobs") else ():
        if job.text("uses") is not None:  # a reusable workflow
            yield job.text("uses") or "", job.key_lines["uses"]


def unpinned_uses(file: str, doc: Node) -> list[Finding]:
    """Remote actions and reusable workflows must be pinned by a full commit SHA."""
    out = []
    for uses, line in _uses(doc):
        if uses.startswith("./"):
            continue
        if uses.startswith("docker://"):
            if "@sha256:" not in uses:
                out.append(Finding("unpinned-uses", file, line,
                                   f"{uses}: pin the image by digest (@sha256:...)"))
            continue
        ref = uses.rpartition("@")[2] if "@" in uses else ""
        if not SHA.fullmatch(ref):
            out.append(Finding("unpinned-uses", file, line,
                               f"{uses}: pin to a 40-hex commit SHA (uses: OWNER/REPO@<sha> "
                               f"# vX.Y.Z), not a tag or branch"))
    return out


def expression_in_run(file: str, doc: Node) -> list[Finding]:
    """``${{ }}`` in a ``run:`` is expanded into the script before the shell reads it."""
    out = []
    for step in _steps(doc):
        run = step.get("run")
        if run is None or not isinstance(run.value, str):
            continue
        for offset, text in enumerate(run.raw.splitlines()):
            if "${{" in text:
                line = run.line + offset
                out.append(Finding("expression-in-run", file, line,
                                   "`${{` inside run: pass the value through env: and use "
                                   "\"$NAME\" in the script"))
    return out


def _read_only(permissions: Node) -> bool:
    if isinstance(permissions.value, str):
        return False  # read-all / write-all: broader than needed
    scopes = dict(permissions.items())
    return all(isinstance(v.value, str) and v.value in READ_ONLY for v in scopes.values())


def top_level_permissions(file: str, doc: Node) -> list[Finding]:
    """The workflow's default token is read-only; jobs ask for more where they need it."""
    if doc.get("jobs") is None:
        return []  # an action: permissions belong to the workflow that runs it
    permissions = doc.get("permissions")
    if permissions is None:
        return [Finding("top-level-permissions", file, 1,
                        "no top-level permissions: add `permissions: {contents: read}`")]
    if not _read_only(permissions):
        return [Finding("top-level-permissions", file, doc.key_lines["permissions"],
                        "top-level permissions must be read-only: `permissions: {contents: "
                        "read}` (grant write scopes on the jobs that need them)")]
    return []


def _authenticates(job: Node) -> bool:
    if job.text("uses") is not None:
        return True  # a reusable workflow gets its token through this job
    for step in job.get("steps").list() if job.get("steps") else ():
        if AUTH_USES.search(step.text("uses") or "") or AUTH_RUN.search(step.text("run") or ""):
            return True
    return False


def id_token_write(file: str, doc: Node) -> list[Finding]:
    """``id-token: write`` lets a job mint OIDC tokens: only where it authenticates."""
    out = []
    for name, job in doc.get("jobs").items() if doc.get("jobs") else ():
        permissions = job.get("permissions")
        if permissions is None:
            continue
        grants = (permissions.value == "write-all"
                  or permissions.text("id-token") == "write")
        if grants and not _authenticates(job):
            out.append(Finding("id-token-write", file, job.key_lines["permissions"],
                               f"job {name} may mint OIDC tokens (id-token: write) but "
                               f"authenticates nowhere: remove it"))
    return out


def _triggers(doc: Node) -> dict[str, int]:
    on = doc.get("on")
    if on is None:
        return {}
    if isinstance(on.value, str):
        return {on.value: on.line}
    if isinstance(on.value, list):
        return {str(item.value): item.line for item in on.list()}
    return dict(on.key_lines)


def reaches_deploy(doc: Node, root: Path, seen: frozenset[Path] = frozenset()) -> bool:
    """True when a job deploys: an environment, a deploy action or ``release deploy``,
    here or in a local reusable workflow it calls."""
    for _, job in doc.get("jobs").items() if doc.get("jobs") else ():
        if job.get("environment") is not None:
            return True
        called = job.text("uses") or ""
        if called.startswith("./"):
            target = (root / called.split("@", 1)[0]).resolve()
            if target not in seen and target.is_file() and reaches_deploy(
                    load(target), root, seen | {target}):
                return True
        elif called:
            return True  # a remote reusable workflow: assume it can deploy
        for step in job.get("steps").list() if job.get("steps") else ():
            if DEPLOY_USES.search(step.text("uses") or "") or DEPLOY_RUN.search(
                    step.text("run") or ""):
                return True
    return False


def untrusted_trigger_deploy(file: str, doc: Node, root: Path) -> list[Finding]:
    """Code from a fork (pull_request_target) or a run it started (workflow_run) must never
    reach a job holding deploy credentials."""
    triggers = _triggers(doc)
    bad = [t for t in UNTRUSTED_TRIGGERS if t in triggers]
    if not bad or not reaches_deploy(doc, root):
        return []
    return [Finding("untrusted-trigger-deploy", file, triggers[t],
                    f"{t} trigger in a workflow that deploys: use push / workflow_dispatch "
                    f"(or split the untrusted part into a workflow without deploy jobs)")
            for t in bad]


def files(root: Path) -> tuple[list[Path], list[Path]]:
    """The workflows (.github/workflows/*.yml|yaml) and actions (actions/**/action.yml|yaml)
    under ``root``."""
    workflows = sorted(p for p in (root / ".github" / "workflows").glob("*")
                       if p.suffix in {".yml", ".yaml"})
    actions = sorted(p for p in (root / "actions").glob("**/action.y*ml"))
    return workflows, actions


def check(root: Path) -> list[Finding]:
    """Every rule over every workflow and action under ``root``."""
    workflows, actions = files(root)
    out: list[Finding] = []
    for path in [*workflows, *actions]:
        name = path.relative_to(root).as_posix()
        try:
            doc = load(path)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            out.append(Finding("yaml", name, mark.line + 1 if mark else 1, str(exc)))
            continue
        out += unpinned_uses(name, doc) + expression_in_run(name, doc)
        if path in workflows:
            out += top_level_permissions(name, doc) + id_token_write(name, doc)
            out += untrusted_trigger_deploy(name, doc, root)
    return out
