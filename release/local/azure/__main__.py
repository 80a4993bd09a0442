"""``python -m release.local.azure``: the local Azure process `release local up` starts.

It serves Entra ID, ACR's token exchange and the Container Apps management API over HTTPS
on ``--port``, and runs container apps' revisions as containers on the engine at
``--docker-host``. SIGTERM stops it: every replica is stopped, every listener closed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from release.errors import ReleaseError
from release.local.azure import entra, keyvault, tls
from release.local.azure.components import LOCAL_TENANT
from release.local.azure.control import ContainerApps
from release.local.azure.replicas import SECRET_SCHEME, ListenerProber, Runner
from release.local.azure.server import ACR_USERNAME, LocalAzure, serve
from release.local.ecs.launching import StartFailedError
from release.local.ecs.listener import ServiceListener
from release.local.ecs.model import Timing
from release.local.ecs.runtime import DockerRuntime

RECONCILE_SECONDS = 0.25
PORTS_FILE = "app-ports.json"
AZURE_DIR = "azure"


def issuer_keys(trusted: str) -> Any:
    """``jwks(issuer)``: the local OIDC issuer's JWKS (fetched per call: it is local and
    cheap); any other issuer is refused without fetching anything."""
    def jwks(issuer: str) -> Mapping[str, Any]:
        if issuer.rstrip("/") != trusted.rstrip("/"):
            raise ValueError("not an issuer this directory federates with")
        with urllib.request.urlopen(f"{trusted}/.well-known/openid-configuration",  # noqa: S310
                                    timeout=5) as answer:
            uri = json.loads(answer.read())["jwks_uri"]
        if not str(uri).startswith(trusted.rstrip("/") + "/"):
            raise ValueError("the issuer's jwks_uri is not on the issuer")
        with urllib.request.urlopen(uri, timeout=5) as answer:  # noqa: S310
            keys: Mapping[str, Any] = json.loads(answer.read())
        return keys
    return jwks


class KeptPorts:
    """Each app's ingress port, kept in a file so the app's URL stays the same when the local
    cloud restarts (as the ECS control plane keeps its services'); a port taken meanwhile
    gives way to a free one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def listener(self, container_port: int, app_id: str) -> ServiceListener:
        """The app's listener, on its kept port when that is free."""
        try:
            kept: dict[str, int] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
        try:
            made = ServiceListener(int(kept.get(app_id.lower(), 0)), container_port)
        except ReleaseError:
            made = ServiceListener(0, container_port)
        kept[app_id.lower()] = made.port
        self.path.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
        return made


def build(options: argparse.Namespace
          ) -> tuple[LocalAzure, ContainerApps, ListenerProber, DockerRuntime]:
    """The endpoints and the control plane behind them, wired to the engine (not serving)."""
    state_dir = Path(options.state_dir)
    state = json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
    logins = {options.registry_host: (str(state.get("registry_username", "AWS")),
                                      str(state.get("registry_password", ""))),
              options.acr_host: (ACR_USERNAME, str(state.get("acr_password", "")))}
    holder: dict[str, ContainerApps] = {}
    vault_file = state_dir / AZURE_DIR / keyvault.KEY_VAULT_FILE

    def secret(value_from: str) -> str:
        """A container app secret a container's env names with ``secretRef``: its value,
        or its Key Vault reference's value from the local Key Vault (fetched as the
        replica starts, as Azure does; one it cannot fetch fails the revision)."""
        app_id, _, name = value_from.removeprefix(SECRET_SCHEME).partition("#")
        for app in holder["apps"].all_apps(options.subscription, None):
            if app.id == app_id:
                for item in app.configuration.get("secrets") or []:
                    if item.get("name") == name and "value" in item:
                        return str(item["value"])
                    if item.get("name") == name and item.get("keyVaultUrl"):
                        try:
                            return keyvault.resolve(vault_file, str(item["keyVaultUrl"]),
                                                    str(item.get("identity") or ""), name)
                        except keyvault.VaultError as failed:
                            raise StartFailedError(str(failed)) from None
        raise KeyError(value_from)

    runtime = DockerRuntime(options.docker_host, secret=secret,
                            registry_auth=logins.get, clock=time.time, timing=Timing(),
                            plane=options.label)
    prober = ListenerProber(lambda port: ServiceListener(0, port))
    apps = ContainerApps(options.subscription, Runner(runtime, prober, time.time),
                         KeptPorts(state_dir / AZURE_DIR / PORTS_FILE).listener, time.time,
                         tenant=LOCAL_TENANT)
    holder["apps"] = apps
    directory_file = state_dir / AZURE_DIR / entra.ENTRA_FILE
    azure = LocalAzure(url=f"https://{options.host}:{options.port}", apps=apps,
                       tokens=entra.Tokens(time.time),
                       directory=lambda: entra.read_directory(directory_file),
                       jwks=issuer_keys(options.oidc_issuer), acr_host=options.acr_host,
                       acr_password=str(state.get("acr_password", "")))
    return azure, apps, prober, runtime


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m release.local.azure")
    for flag in ("--state-dir", "--docker-host", "--registry-host", "--acr-host",
                 "--subscription", "--oidc-issuer"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--label", default="local-azure")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    azure, apps, prober, runtime = build(options)
    folder = Path(options.state_dir) / AZURE_DIR
    server = serve(azure, options.host, options.port, folder / tls.CERT_FILE,
                   folder / tls.KEY_FILE)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="https")
    thread.start()
    try:
        while not stop.wait(RECONCILE_SECONDS):
            try:
                apps.reconcile()
            except Exception:  # the loop must outlive one bad pass; it is logged
                logging.getLogger("azure").exception("reconcile failed")
    finally:
        server.shutdown()
        server.server_close()
        apps.close()
        prober.close()
        runtime.close()  # waits for the replicas' teardown, removes what carries its label
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
