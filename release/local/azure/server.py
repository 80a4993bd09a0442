"""The local Azure endpoints over HTTPS on 127.0.0.1: routes to Entra ID, ACR and ARM.

- ``GET  /{tenant}/v2.0/.well-known/openid-configuration``, ``POST /{tenant}/oauth2/v2.0/token``
- ``POST /oauth2/exchange`` (Entra token -> ACR refresh token), ``POST /oauth2/token``
- ``PUT|GET /subscriptions/{sub}/resourcegroups/{rg}``
- ``GET|PUT|PATCH .../providers/Microsoft.App/containerApps/{name}``, ``GET .../revisions``,
  ``GET .../revisions/{name}``, ``GET /subscriptions/{sub}/providers/Microsoft.App/locations/
  {location}/containerappOperationStatuses/{id}`` (the ``Azure-AsyncOperation`` of a change)
- ``POST .../containerApps/{name}/listSecrets``, ``POST .../revisions/{name}/activate|
  deactivate|restart``

Every management call needs ``api-version`` and a bearer token this endpoint issued.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from release.local.azure import apps as model
from release.local.azure import entra
from release.local.azure.apps import ApiError
from release.local.azure.control import ContainerApps

ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
_APPS = (r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
         r"microsoft\.app/containerapps")
APP = re.compile(_APPS + r"/(?P<app>[^/]+)$", re.IGNORECASE)
ACTION = re.compile(_APPS + r"/(?P<app>[^/]+)(?:/revisions/(?P<rev>[^/]+))?/"
                    r"(?P<action>listSecrets|activate|deactivate|restart)$", re.IGNORECASE)
REVISIONS = re.compile(_APPS + r"/(?P<app>[^/]+)/revisions(?:/(?P<rev>[^/]+))?$", re.IGNORECASE)
APPS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourcegroups/(?P<rg>[^/]+))?"
                  r"/providers/microsoft\.app/containerapps$", re.IGNORECASE)
GROUP = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)$",
                   re.IGNORECASE)
OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/microsoft\.app/locations/[^/]+/"
                       r"containerappoperationstatuses/(?P<id>[0-9a-f]+)$", re.IGNORECASE)
TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class LocalAzure:
    """Everything the endpoints answer from."""

    url: str  # https://127.0.0.1:PORT
    apps: ContainerApps
    tokens: entra.Tokens
    directory: Callable[[], entra.Directory]
    jwks: Callable[[str], Mapping[str, Any]]
    acr_host: str
    acr_password: str

    def handle(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """One request: (status, JSON body or None, extra headers)."""
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        try:
            if parts.path.startswith("/oauth2/") or TOKEN.match(parts.path) or \
                    DISCOVERY.match(parts.path):
                return self._identity(method, parts.path, body)
            version = _admitted(parts.path, query, self.tokens,
                                headers.get("authorization", ""))
            return self._management(method, parts.path, body, version)
        except entra.EntraError as refused:
            return refused.status, refused.body(self.tokens.clock()), {}
        except ApiError as error:
            return error.status, error.body(), {}

    def _identity(self, method: str, path: str, body: bytes) -> Reply:
        form = parse_qs(body.decode(errors="replace"))
        found = DISCOVERY.match(path)
        if found and method == "GET":
            return 200, entra.discovery(self.url, found["tenant"]), {}
        found = TOKEN.match(path)
        if found and method == "POST":
            return 200, entra.token_request(form, found["tenant"], self.directory(),
                                            self.jwks, self.tokens), {}
        if path == "/oauth2/exchange" and method == "POST":
            return self._exchange(form)
        if path == "/oauth2/token" and method == "POST":
            given = (form.get("refresh_token") or [""])[0]
            if not hmac.compare_digest(given.encode(), self.acr_password.encode()):
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message":
                                         "authentication required"}]}, {}
            return 200, {"access_token": secrets.token_urlsafe(32)}, {}
        raise ApiError(404, "NotFound", f"no route for {method} {path}")

    def _exchange(self, form: Mapping[str, list[str]]) -> Reply:
        """ACR's ``/oauth2/exchange``: an Entra token for this registry's refresh token."""
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        if one("grant_type") != "access_token" or one("service") != self.acr_host:
            return 400, {"errors": [{"code": "BAD_REQUEST", "message":
                                     f"grant_type access_token for service {self.acr_host}"}]}, {}
        if self.tokens.check(one("access_token")) is not None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message":
                                     "the access token is invalid or expired"}]}, {}
        return 200, {"refresh_token": self.acr_password}, {}


    def _management(self, method: str, path: str, body: bytes, version: str) -> Reply:
        data = _json(body) if method in ("PUT", "PATCH") else {}
        if (found := GROUP.match(path)) is not None:
            if method == "PUT":
                status, group = self.apps.put_group(found["sub"], found["rg"], data)
                return status, group, {}
            return 200, self.apps.group(found["sub"], found["rg"]), {}
        if (found := OPERATION.match(path)) is not None:
            return 200, self.apps.operation(found["id"]), {}
        if (found := APPS.match(path)) is not None and method == "GET":
            listed = self.apps.all_apps(found["sub"], found["rg"])
            return 200, {"value": [model.app_json(a) for a in listed]}, {}
        if (found := REVISIONS.match(path)) is not None and method == "GET":
            app = self.apps.app(found["sub"], found["rg"], found["app"])
            if found["rev"] is None:
                return 200, {"value": [model.revision_json(app, r)
                                       for r in app.revisions.values()]}, {}
            revision = next((r for n, r in app.revisions.items()
                             if n.lower() == found["rev"].lower()), None)
            if revision is None:
                raise ApiError(404, "ContainerAppRevisionNotFound",
                               f"Revision '{found['rev']}' not found.")
            return 200, model.revision_json(app, revision), {}
        if (found := APP.match(path)) is not None:
            return self._app(method, found, data, version)
        if (found := ACTION.match(path)) is not None and method == "POST":
            return self._action(found)
        raise ApiError(404, "NotFound", f"no route for {method} {path}")

    def _app(self, method: str, found: re.Match[str], data: Mapping[str, Any],
             version: str) -> Reply:
        sub, group, name = found["sub"], found["rg"], found["app"]
        if method == "GET":
            return 200, model.app_json(self.apps.app(sub, group, name)), {}
        if method == "PUT":
            status, app, operation = self.apps.put(sub, group, name, data)
            return status, model.app_json(app), self._async(sub, app, operation.id,
                                                                     version)
        if method == "PATCH":
            app, operation = self.apps.patch(sub, group, name, data)
            return 202, None, self._async(sub, app, operation.id, version)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _action(self, found: re.Match[str]) -> Reply:
        """``POST .../listSecrets`` and ``POST .../revisions/{name}/(de)activate|restart``."""
        sub, group, name, action = found["sub"], found["rg"], found["app"], \
            found["action"].lower()
        if action == "listsecrets" and found["rev"] is None:
            return 200, self.apps.list_secrets(sub, group, name), {}
        if action != "listsecrets" and found["rev"] is not None:
            self.apps.revision_action(sub, group, name, found["rev"], action)
            return 200, None, {}
        raise ApiError(404, "NotFound", f"no route for POST {found.string}")

    def _async(self, sub: str, app: model.App, operation: str, version: str) -> dict[str, str]:
        status = (f"{self.url}/subscriptions/{sub}/providers/Microsoft.App/locations/"
                  f"{app.location}/containerappOperationStatuses/{operation}"
                  f"?api-version={version}")
        return {"Azure-AsyncOperation": status, "Location": status, "Retry-After": "1"}


def _admitted(path: str, query: Mapping[str, list[str]], tokens: entra.Tokens,
              header: str) -> str:
    """The api-version of a management call with a valid bearer token, else ARM's error."""
    if not path.lower().startswith("/subscriptions/"):
        raise ApiError(404, "NotFound", f"no route for {path}")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "AuthenticationFailed",
                       "Authentication failed. The 'Authorization' header is missing.")
    problem = tokens.check(token.strip())
    if problem == "ExpiredAuthenticationToken":
        raise ApiError(401, problem, "The access token has expired: get a new one.")
    if problem is not None:
        raise ApiError(401, problem, "The access token is invalid.")
    version = (query.get("api-version") or [""])[0]
    if not version:
        raise ApiError(400, "MissingApiVersionParameter", "The api-version query "
                       "parameter (?api-version=) is required for all requests.")
    return version


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "InvalidRequestContent", "The request content was invalid and "
                       "could not be deserialized.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "InvalidRequestContent", "The request content must be an object.")
    return data


def serve(azure: LocalAzure, host: str, port: int, cert: Path, key: Path) -> ThreadingHTTPServer:
    """An HTTPS server for ``azure`` on ``host:port`` (not yet serving: call serve_forever)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data, extra = azure.handle(self.command, self.path, body, headers)
            payload = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-ms-request-id", secrets.token_hex(16))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server
