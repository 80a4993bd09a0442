"""A throw-away git copy of a repository's release config, pointed at a local cloud.

Tests and benchmarks release this copy, never the checkout itself, so they can commit,
break Dockerfiles and reset moto without touching anyone's work.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from release.adapters.aws.clients import AwsClients
from release.config import load_config
from release.local.seed import Runnable, Trust, seed

EXAMPLES = ("release.yaml", "environments", "services", "libs", ".dockerignore")
_IDENTITY = ("-c", "user.name=release-sandbox", "-c", "user.email=sandbox@example.invalid")


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; return its stdout."""
    return subprocess.run(["git", "-C", str(root), *_IDENTITY, *args], check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def make(source: Path, target: Path, *, aws_endpoint: str, registry_host: str,
         unique_builds: bool = True, azure: tuple[str, str] | None = None) -> Path:
    """Copy the examples from ``source`` to a new git repository at ``target``.

    ``unique_builds`` adds a random build arg so every build key is new (a first release).
    ``azure`` is the cloud's (Azure endpoint URL, ACR host): the container apps release
    there; without it, local.yaml loses its azure block and the services that need it.
    """
    target.mkdir(parents=True)
    for name in EXAMPLES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.exists():
            shutil.copy2(path, target / name)
    local = target / "environments" / "local.yaml"
    data = yaml.safe_load(local.read_text())
    data["aws"]["endpoint_url"] = aws_endpoint
    data["registry"]["host"] = registry_host
    _point_azure(data, azure)
    local.write_text(yaml.safe_dump(data, sort_keys=False))
    if unique_builds:
        release = target / "release.yaml"
        spec = yaml.safe_load(release.read_text())
        spec.setdefault("defaults", {}).setdefault("build_args", {})["SANDBOX_RUN"] = (
            uuid.uuid4().hex)
        release.write_text(yaml.safe_dump(spec, sort_keys=False))
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "sandbox")
    return target


def _point_azure(data: dict[str, Any], azure: tuple[str, str] | None) -> None:
    """Point local.yaml's azure block and ACR registries at ``azure``, or drop them."""
    services = data.get("services") or {}
    uses = [name for name, spec in services.items() if isinstance(spec, dict) and (
        "azure_container_app" in spec or (spec.get("registry") or {}).get("type") == "acr")]
    if azure is None:
        data.pop("azure", None)
        for name in uses:
            services.pop(name)
        return
    url, acr_host = azure
    if "azure" in data:
        data["azure"].update(authority_url=url, management_url=url,
                             acr_exchange_url=f"{url}/oauth2/exchange")
    for name in uses:
        if (services[name].get("registry") or {}).get("type") == "acr":
            services[name]["registry"]["host"] = acr_host


def reset_and_seed(root: Path, aws_endpoint: str, trust: Trust | None = None,
                   runnable: Runnable | None = None) -> None:
    """Empty moto and create the infrastructure ``environments/local.yaml`` points at, its
    role trusting ``trust`` (default: the issuer on 127.0.0.1:5002)."""
    request = urllib.request.Request(  # noqa: S310 - the local moto server
        f"{aws_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass
    seed_environments(root, ("local",), trust, runnable)


def seed_environments(root: Path, names: tuple[str, ...], trust: Trust | None = None,
                      runnable: Runnable | None = None) -> None:
    """Create (without emptying moto first) the infrastructure each named environment of
    the repository at ``root`` points at."""
    config = load_config(root, names)
    for name in names:
        env = config.environments[name]
        if env.aws is None:
            raise ValueError(f"environments/{name}.yaml has no aws block")
        clients = AwsClients(env.aws)
        try:
            seed(config, env, clients, lambda _line: None, trust, runnable=runnable)
        finally:
            clients.close()
