"""The smoke check on the wire: GET one URL until it answers as wanted, or time runs out.

Its URL comes from a cloud answer (a load balancer's DNS name, a task's binding) or from
config, so the request is held to a few rules: http(s) only; no redirect followed; no
credentials, cookies or proxy; every wait bounded; an IP address in a private range is
never used unless it comes from a DNS name (an internal load balancer's name is what teams
have), and a link-local address (the instance metadata service) never. The name is
resolved once and checked, and the connection goes to the address checked, so a second
answer from DNS cannot move it. A route that wants another Host than the address it is
reached at (a listener rule's host-header) sends that Host and TLS server name.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from release.config.model import SmokeCheck
from release.planning.listener_rules import SmokeRequest, is_dns_name

BODY_LIMIT = 64 * 1024  # what a smoke check reads of a body
METADATA_V6 = ipaddress.ip_address("fd00:ec2::254")  # EC2's instance metadata over IPv6
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[..., list[tuple[Any, ...]]]  # socket.getaddrinfo's shape


def _never(address: Address) -> bool:
    """Addresses no smoke check reaches, by name or not (metadata services and the like)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_link_local or address.is_multicast or address.is_unspecified
            or address.is_reserved or address == METADATA_V6)


def refused(host: str, port: int,
            resolve: Resolve = socket.getaddrinfo) -> tuple[str | None, str | None]:
    """(the address to connect to, None) or (None, why ``host`` must not be reached)."""
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        mapped = literal.ipv4_mapped if isinstance(literal, ipaddress.IPv6Address) else None
        plain = mapped or literal
        if not plain.is_loopback and (plain.is_private or _never(plain)):
            return None, f"{host} is a private or link-local address (give a DNS name)"
        return str(literal), None
    if not is_dns_name(host):
        return None, f"{host} is neither an IP address nor a DNS name"
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return None, f"{host} does not resolve ({exc.strerror or exc})"
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    bad = next((a for a in addresses if _never(a)), None)
    if bad is not None or not addresses:
        return None, f"{host} resolves to {bad}, a link-local or reserved address"
    return str(addresses[0]), None


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to the address checked; ``host`` only names it."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """An HTTPS connection to the address checked, the certificate checked for ``host``."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        plain = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(plain, server_hostname=self.host)


def _get(request: SmokeRequest, address: str, timeout: float) -> tuple[int, str]:
    parts = urlsplit(request.url)
    name = request.host or parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind = _PinnedTLS if parts.scheme == "https" else _Pinned
    connection = kind(name, port, address=address, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={"User-Agent": "release-smoke-check",
                                                   "Accept": "*/*"})
        answer = connection.getresponse()
        return int(answer.status), answer.read(BODY_LIMIT).decode("utf-8", "replace")
    finally:
        connection.close()


def smoke(request: SmokeRequest, check: SmokeCheck, *, clock: Callable[[], float],
          sleep: Callable[[float], None],
          resolve: Resolve = socket.getaddrinfo) -> tuple[bool, str]:
    """GET ``request`` until it answers ``check.status`` (with ``check.body_contains``) or
    ``check.timeout_seconds`` are up; (passed, what it answered last). Redirects are
    answers, never followed."""
    parts = urlsplit(request.url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname or not port:
        return False, f"{request.url!r} is not an http(s) URL"
    address, why = refused(parts.hostname, port, resolve)
    if address is None:
        return False, f"not checked: {why}"
    deadline = clock() + check.timeout_seconds
    shown = parts.path or "/"
    last = "no answer"
    while True:
        try:
            code, body = _get(request, address, max(1.0, min(5.0, check.timeout_seconds)))
            last = f"GET {shown} answered {code}"
            if code == check.status and (check.body_contains is None
                                         or check.body_contains in body):
                return True, last
            if code == check.status:
                last += f" without {check.body_contains!r} in its body"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            last = f"GET {shown} failed: {exc}"
        if clock() >= deadline:
            return False, f"{last} (wanted {check.status})"
        sleep(0.5)
