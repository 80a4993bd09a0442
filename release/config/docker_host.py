"""The ``docker_host`` block of an environment file: which Docker engine a service's container
runs on and how. The host string reaches an ``ssh`` command line, so it is parsed here, once,
to a shape that cannot carry an option (``-oProxyCommand=...``) or a second argument; the
values that reach the engine (ports, network, secret files, the health URL) are checked too.

Private addresses are allowed: a team's VM usually has one. Link-local, multicast and
unspecified addresses are not (nothing legitimate listens there; 169.254.169.254 is a
cloud's metadata service).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import plaintext
from release.config.credentials import find_secret
from release.config.model import ContainerHealth, DockerHostDeployment, Service
from release.config.source import PathKey, Source, dotted
from release.errors import Problem

DEFAULT_SOCKET = "/var/run/docker.sock"
SECRETS_DIR = "/run/secrets"  # where each secret file is mounted, read-only, in the container
HOST_HINT = ("write host: ssh://USER@HOST[:PORT][/path/to/docker.sock] (the engine is "
             "reached through an SSH tunnel to its socket) or unix:///var/run/docker.sock")

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_SOCKET = re.compile(r"/[A-Za-z0-9._/-]{1,200}")
_PORT = re.compile(r"(?:(?P<ip>[0-9.]+):)?(?P<host>\d{1,5}):(?P<container>\d{1,5})"
                   r"(?:/(?:tcp|udp))?")
_PATH = re.compile(r"/[A-Za-z0-9._~/%=&?+-]{0,200}")


@dataclass(frozen=True)
class Endpoint:
    """A parsed docker host: ``ssh`` (user, host, port, socket) or ``unix`` (socket)."""

    scheme: str
    socket: str
    host: str = ""
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.socket}"
        who = f"{self.user}@" if self.user else ""
        at = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{who}{at}{f':{self.port}' if self.port else ''}"


class HostRefusedError(ValueError):
    """Why a host string is refused (the message names the part at fault)."""


def parse_host(text: str) -> Endpoint:
    """``text`` as an Endpoint, or HostRefusedError: only ssh:// and unix://, no option-shaped or
    odd user, host or path, no control characters or spaces."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise HostRefusedError("contains a space or a control character")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in {"ssh", "unix"}:
        raise HostRefusedError(f"scheme {scheme if sep else text!a} is not ssh:// or unix:// "
                          "(tcp:// would send the engine's API unencrypted and "
                          "unauthenticated)")
    if scheme == "unix":
        return Endpoint("unix", _socket(rest))
    authority, slash, path = rest.partition("/")
    user, at, hostport = authority.rpartition("@")
    if at and not _USER.fullmatch(user):
        raise HostRefusedError(f"user {user!a} is not a plain login name (letters, digits, "
                          "'_', '.', '-'; not starting with '-')")
    host, port = _host_and_port(hostport)
    return Endpoint("ssh", _socket("/" + path) if slash else DEFAULT_SOCKET, host,
                    user if at else None, port)


def _socket(path: str) -> str:
    if not _SOCKET.fullmatch(path) or "/../" in f"{path}/" or "//" in path:
        raise HostRefusedError(f"socket path {path!a} is not an absolute path of letters, digits, "
                          "'.', '_', '-' and '/' without '..'")
    return path


def _host_and_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close:
            raise HostRefusedError(f"{text!a}: an IPv6 address needs its closing ']'")
        port_text = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port_text is None:
            raise HostRefusedError(f"{text!a}: only :PORT may follow the address")
    else:
        host, colon, port_text_or = text.partition(":")
        port_text = port_text_or if colon else None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise HostRefusedError(f"port {port_text!a} is not a number from 1 to 65535")
        port = int(port_text)
    _check_host(host)
    return host, port


def _check_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.startswith("-") or not _HOSTNAME.fullmatch(host) or len(host) > 253:
            raise HostRefusedError(f"host {host!a} is not a DNS name or an IP address") from None
        return
    if (address.is_link_local or address.is_multicast or address.is_unspecified
            or address.is_reserved):
        raise HostRefusedError(f"address {host} is link-local, multicast, unspecified or reserved: "
                          "no Docker host listens there")


def port_problem(text: str) -> str | None:
    """Why a ``ports`` entry is refused, or None."""
    found = _PORT.fullmatch(text)
    if found is None:
        return "is not HOST_PORT:CONTAINER_PORT (or IP:HOST_PORT:CONTAINER_PORT, /udp)"
    if found.group("ip"):
        try:
            ipaddress.IPv4Address(found.group("ip"))
        except ValueError:
            return f"{found.group('ip')!a} is not an IPv4 address"
    if not all(1 <= int(found.group(p)) <= 65535 for p in ("host", "container")):
        return "ports are numbers from 1 to 65535"
    return None


def secret_file_problem(path: str) -> str | None:
    """Why a secret's file on the host is refused, or None (absolute, no '..', plain)."""
    if not _SOCKET.fullmatch(path) or "/../" in f"{path}/" or "//" in path:
        return "is not an absolute path of letters, digits, '.', '_', '-' and '/' without '..'"
    return None


Report = Callable[[Problem], None]


def deployment(source: Source, root: Path, service: Service, raw: dict[str, Any],
               report: Report) -> DockerHostDeployment | None:
    """The service's docker_host block as a DockerHostDeployment; each problem reported,
    located (the schema has already checked the shapes)."""
    if service.docker_host is None:
        return None
    at: PathKey = ("services", service.name, "docker_host")
    if not raw:
        report(_problem(source, at[:2], f"'{service.name}' has a docker_host target; this "
                        "environment must name the host", "add docker_host: {host: "
                        "ssh://USER@HOST}"))
        return None
    try:
        parse_host(raw["host"])
    except HostRefusedError as exc:
        report(_problem(source, (*at, "host"), f"host is refused: {exc}", HOST_HINT))
    _check_ports(source, at, raw, report)
    environment = {k: _text(v) for k, v in raw.get("env", {}).items()}
    _check_env(source, root, at, raw, report)
    health = raw.get("health")
    return DockerHostDeployment(
        host=raw["host"], name=raw.get("name", service.name), ports=tuple(raw.get("ports", ())),
        network=raw.get("network"), environment=environment,
        secrets=dict(raw.get("secrets", {})),
        health=None if health is None else ContainerHealth(**health))


def _check_ports(source: Source, at: PathKey, raw: dict[str, Any], report: Report) -> None:
    for index, port in enumerate(raw.get("ports", ())):
        why = port_problem(port)
        if why:
            report(_problem(source, (*at, "ports", index), f"port {port!a} {why}",
                            'write ports: ["6000:80"] (host port 6000 to the container\'s 80)'))
    if raw.get("ports") and raw.get("network") in {"host", "none"}:
        report(_problem(source, (*at, "network"), f"network {raw['network']} publishes no "
                        "ports", "remove ports (with network: host the container's own ports "
                        "are the host's), or remove network"))
    path = raw.get("health", {}).get("path")
    if path is not None and not _PATH.fullmatch(path):
        report(_problem(source, (*at, "health", "path"), f"health path {path!a} is not a URL "
                        "path", "write a path such as /health (letters, digits, /._-~%=&?+)"))


def _check_env(source: Source, root: Path, at: PathKey, raw: dict[str, Any],
               report: Report) -> None:
    environment = {k: _text(v) for k, v in raw.get("env", {}).items()}
    secrets: dict[str, str] = raw.get("secrets", {})
    for key, value in environment.items():
        why = find_secret(key, value)
        if why:
            found = plaintext.problem(source, root, (*at, "env", key), value=value, why=why,
                                      hint=_secret_hint(source, key))
            if found is not None:
                report(found)
    for key, path in secrets.items():
        why = secret_file_problem(path)
        if why:
            report(_problem(source, (*at, "secrets", key), f"secret file {path!a} {why}",
                            f"name the file on the host, e.g. {key}: /etc/{key.lower()}"))
        for clash in (key, f"{key}_FILE"):
            if clash in environment:
                report(_problem(source, (*at, "env", clash), f"{clash} is also set by secret "
                                f"{key} (the container gets {key}_FILE={SECRETS_DIR}/{key})",
                                f"remove env.{clash}"))


def _secret_hint(source: Source, key: str) -> str:
    return ("keep the value in a file on the host (readable by the Docker engine only) and "
            "name it; the container reads it at "
            f"{SECRETS_DIR}/{key} and finds that path in {key}_FILE:\n"
            f"  docker_host:\n    secrets:\n      {key}: /etc/release/{source.data['name']}/"
            f"{key.lower()}")


def _problem(source: Source, at: PathKey, message: str, hint: str | None) -> Problem:
    return Problem(source.path, source.line(at), dotted(at), message, hint)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
