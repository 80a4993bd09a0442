"""What `release local up` starts for Azure, and how `down` undoes it.

- ``acr``: Debian's ``docker-registry`` serving TLS on 127.0.0.1 (the certificate made at
  ``up``, trusted by dockerd through ``/etc/docker/certs.d/<host:port>/``), behind htpasswd
  with ACR's user name (the all-zero GUID) and the refresh token ``/oauth2/exchange`` gives.
- ``azure``: ``python -m release.local.azure``: Entra ID, the exchange and the Container
  Apps API over HTTPS, with the app registration of ``LOCAL_TENANT``/``LOCAL_CLIENT``
  federated with the local OIDC issuer for the subject its tokens carry.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import release
from release.errors import ReleaseError
from release.local import registry as registry_config
from release.local.azure import entra, tls
from release.local.oidc_issuer import CLAIMS_FILE
from release.local.oidc_tokens import Workflow, workflow_from_file
from release.local.processes import Launch
from release.local.state import LocalState

# The local cloud's ids: GUID-shaped, "10ca1" for local. Not secrets (nor are Azure's).
LOCAL_TENANT = "10ca1000-0000-4000-8000-000000000001"
LOCAL_CLIENT = "10ca1000-0000-4000-8000-000000000002"
LOCAL_SUBSCRIPTION = "10ca1000-0000-4000-8000-000000000003"
ACR_USERNAME = "00000000-0000-0000-0000-000000000000"

Service = tuple[Launch, str, str, Callable[[], bool]]  # spec, address, url, ready


def folder(state: LocalState) -> Path:
    """``<state dir>/azure``: certificate, entra.json, the ACR registry's files."""
    return Path(state.state_dir) / "azure"


def acr(state: LocalState, host: str, port: int, env: Mapping[str, str], log: Path,
        *, fresh: bool) -> Service:
    """The TLS registry (``fresh``: it is not running, so its htpasswd is rewritten)."""
    cert, key = tls.ensure_certificate(folder(state))
    files = folder(state) / "acr"
    if fresh:
        registry_config.write_htpasswd(files, ACR_USERNAME, state.acr_password)
    config = registry_config.write_config(files, host, port, tls=(cert, key))
    address = f"{host}:{port}"
    try:
        tls.trust_for_docker(address, cert)
    except OSError as exc:
        raise ReleaseError(f"acr: cannot make dockerd trust the local ACR's certificate: {exc}",
                           hint=f"run `release local up` as root (it writes "
                                f"{tls.CERTS_D / address}/ca.crt)") from None
    spec = Launch("acr", registry_config.argv(config), log, env, Path(state.state_dir))
    return spec, address, f"https://{address}", lambda: tls.answers(
        f"https://{address}/v2/", cert)


def azure(state: LocalState, address: tuple[str, int], acr_address: str,
          env: Mapping[str, str], log: Path) -> Service:
    """The Azure endpoints' process, its app registration written first."""
    host, port = address
    cert, _ = tls.ensure_certificate(folder(state))
    register(state)
    package_parent = str(Path(release.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "release.local.azure", "--state-dir", state.state_dir,
            "--host", host, "--port", str(port), "--docker-host", state.docker_host,
            "--registry-host", state.registry_host, "--acr-host", acr_address,
            "--subscription", LOCAL_SUBSCRIPTION, "--oidc-issuer", state.oidc_issuer,
            "--label", f"local-azure-{port}"]
    spec = Launch("azure", argv, log, {**env, "PYTHONPATH": python_path},
                  Path(state.state_dir))
    url = f"https://{host}:{port}"
    return spec, f"{host}:{port}", url, lambda: tls.answers(
        f"{url}/{LOCAL_TENANT}/v2.0/.well-known/openid-configuration", cert)


def subject(state: LocalState) -> str:
    """The ``sub`` the local issuer's tokens carry now (from its claims file)."""
    try:
        data = json.loads((Path(state.state_dir) / CLAIMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Workflow().subject
    return workflow_from_file(data)[0].subject if isinstance(data, dict) else Workflow().subject


def register(state: LocalState, sub: str | None = None) -> None:
    """Federate the local app registration with the local issuer for ``sub`` (default: the
    subject of the issuer's tokens now), as `az ad app federated-credential create` does."""
    path = folder(state) / entra.ENTRA_FILE
    credential = entra.Credential(state.oidc_issuer, sub or subject(state))
    entra.write_directory(path, entra.with_credential(
        entra.read_directory(path), LOCAL_TENANT, LOCAL_CLIENT, credential))


def answers(url: str, state: LocalState) -> bool:
    """True when ``url`` answers over TLS with the local Azure certificate."""
    return tls.answers(url, ca_file(state))


def untrust(address: str) -> None:
    """dockerd no longer trusts the local certificate for the registry at ``address``."""
    tls.untrust_for_docker(address)


def ca_file(state: LocalState) -> Path:
    """The certificate clients trust (``REQUESTS_CA_BUNDLE``)."""
    return folder(state) / tls.CERT_FILE
