"""A container-app canary (engine.app_canary) against the local cloud's Container Apps API
(tests/adapters/azure_endpoints.py). Replicas are scripted; each revision's own URL (its
listener in Multiple mode) is a small HTTP server on 127.0.0.1 standing in for the
replica: it answers 200 "detector ok" unless the revision runs BAD_IMAGE (500). The same
canary against real containers is in tests/e2e/test_azure_canary.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure_endpoints import SUBSCRIPTION, Local, running
from oidc_helpers import RunningIssuer

from release.config.model import AppTraffic, AzureAppDeployment, SmokeCheck
from release.engine import app_canary
from release.engine.context import Context
from release.errors import ReleaseError
from release.local.azure.apps import weights

GOOD = "127.0.0.1/batch-detector@sha256:" + "a" * 64
BAD = "127.0.0.1/batch-detector@sha256:" + "b" * 64
SMOKE = SmokeCheck(path="/health", status=200, body_contains="ok", timeout_seconds=2)
CANARY = AppTraffic(strategy="canary", percent=20, interval_seconds=1, smoke=SMOKE)


class Replicas:
    """Listeners: the app's is a stub; each revision's is an HTTP server answering as its
    image does (looked up in the control plane at request time)."""

    def __init__(self) -> None:
        self.local: Local | None = None
        self.servers: list[ThreadingHTTPServer] = []

    def __call__(self, container_port: int, app_id: str) -> Any:
        from azure_endpoints import Listener

        if "/revisions/" not in app_id:
            return Listener(container_port, app_id)
        revision = app_id.rsplit("/", 1)[1]
        replicas = self

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                assert replicas.local is not None
                app = replicas.local.apps.app(SUBSCRIPTION, "rg-batch", "batch-detector")
                image = app.revisions[revision].template["containers"][0]["image"]
                status, body = (500, b"broken") if image == BAD else (200, b"detector ok")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        made = Listener(container_port, app_id, port=server.server_address[1])
        made.close = server.shutdown  # type: ignore[method-assign]
        return made


@pytest.fixture
def local(tmp_path: Path, issuer: RunningIssuer) -> Iterator[Local]:
    replicas = Replicas()
    with running(tmp_path, issuer, listener=replicas) as made:
        replicas.local = made
        yield made
    for server in replicas.servers:
        server.server_close()


def context(local: Local, lines: list[str]) -> Context:
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.2))
        local.apps.reconcile()
    return Context(config=None, env=None, aws=None, commit="",  # type: ignore[arg-type]
                   sleep=sleep, log=lines.append)


def app(traffic: AppTraffic = CANARY) -> AzureAppDeployment:
    return AzureAppDeployment("batch-detector", "rg-batch", None, deployment=traffic)


def state(local: Local) -> Any:
    return local.apps.app(SUBSCRIPTION, "rg-batch", "batch-detector")


def test_a_canary_that_passes_its_smoke_check_takes_all_traffic(
        local: Local, issuer: RunningIssuer) -> None:
    old = state(local).latest_ready
    lines: list[str] = []
    new, report = app_canary.release(context(local, lines), local.api(issuer),
                                     app_canary.Canary("batch-detector", app(), GOOD))
    assert (report.reached, report.failed, report.previous) == ((20, 100), None, old)
    assert [g.text() for g in report.gates] == ["smoke passed at 20%"]
    now = state(local)
    assert now.mode == "Multiple"
    assert weights(now) == {new: 100}
    assert now.revisions[old].active is False  # deactivated after the move
    traffic = [json for method, _p, json in local.requests if method == "PATCH"]
    assert '"weight": 20' in traffic[1]
    assert '"weight": 80' in traffic[1]
    assert any(f"20% of batch-detector's traffic to revision {new}" in line for line in lines)


def test_a_failed_smoke_check_puts_the_traffic_back_on_the_old_revision(
        local: Local, issuer: RunningIssuer) -> None:
    old = state(local).latest_ready
    with pytest.raises(app_canary.RevisionGateFailedError) as caught:
        app_canary.release(context(local, []), local.api(issuer),
                           app_canary.Canary("batch-detector", app(), BAD))
    report = caught.value.traffic
    assert report.failed is not None
    assert report.failed.text().startswith("smoke failed at 20%: GET /health answered 500")
    assert caught.value.rolled_back_to == f"revision {old}"
    now = state(local)
    assert weights(now) == {old: 100}
    assert now.revisions[report.version].active is False
    assert now.revisions[old].active is True


def test_a_canary_needs_ingress(tmp_path: Path, issuer: RunningIssuer) -> None:
    body = {"location": "local", "properties": {"configuration": {}, "template": {
        "containers": [{"name": "api", "image": GOOD}]}}}
    with running(tmp_path, issuer, body) as local, pytest.raises(
            ReleaseError, match="a canary needs the app's ingress"):
        app_canary.release(context(local, []), local.api(issuer),
                           app_canary.Canary("batch-detector", app(), GOOD))


def test_after_a_canary_an_all_at_once_release_moves_all_traffic(
        local: Local, issuer: RunningIssuer) -> None:
    from release.adapters.azure import container_apps

    ctx = context(local, [])
    first, _ = app_canary.release(ctx, local.api(issuer),
                                  app_canary.Canary("batch-detector", app(), GOOD))
    again = GOOD.replace("a" * 64, "c" * 64)
    second = container_apps.deploy(local.api(issuer), app(AppTraffic()), again, ctx.azure_wait())
    assert weights(state(local)) == {second: 100}  # Multiple mode, traffic on the latest
    assert second != first
