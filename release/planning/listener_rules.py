"""Which HTTP request a load balancer listener rule routes, for a smoke check.

ECS blue/green names the listener rules that carry production and test traffic
(``loadBalancers[].advancedConfiguration``). A rule matches a request by its conditions;
the smoke check can only send what a plain GET can carry: the load balancer's DNS name and
the listener's port, a Host header (``host-header``) and a path (``path-pattern``). Any other
condition (an HTTP header, a query string, a source IP, a regex) is refused with the
condition named and the fix. Pure: data in, a request or the reason out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# A DNS name as ELB gives them and as a Host header carries them: letters, digits, hyphens
# and dots, labels of 1-63, at most 253 characters. Anything else is not sent.
HOSTNAME = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z")
NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")
SCHEMES = {"HTTP": "http", "HTTPS": "https"}
DEFAULT_PORTS = {"http": 80, "https": 443}
FIX = "give smoke.url (and smoke.host_header) for a route the check can reach"


def is_dns_name(host: str) -> bool:
    """A DNS name, not an IP address in any of the forms resolvers still take (``10.1``,
    ``167772161``, ``0x0a000001``): its last label is not a number."""
    return bool(HOSTNAME.match(host)) and not NUMERIC_LABEL.match(host.rstrip(".").rsplit(
        ".", 1)[-1])


@dataclass(frozen=True)
class ListenerRule:
    """A listener rule as ELBv2 describes it, with its listener and load balancer."""

    arn: str  # the rule (or, for a listener named directly, the listener) ARN
    protocol: str  # the listener's: HTTP, HTTPS, TCP, TLS, ...
    port: int
    dns_name: str  # the load balancer's
    conditions: tuple[Mapping[str, Any], ...] = ()  # none: a default rule or a listener


@dataclass(frozen=True)
class SmokeRequest:
    """A GET to send: ``url`` is where it connects; ``host`` the Host header (and TLS server
    name) when the route wants another name than the URL's."""

    url: str
    host: str | None = None

    @property
    def shown(self) -> str:
        """The URL people read: the name the route answers to, not the balancer's."""
        if self.host is None:
            return self.url
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=self.host + port))

    @property
    def described(self) -> str:
        """The URL people read, and the address it went through when that differs."""
        through = urlsplit(self.url).hostname
        return self.shown + (f" (through {through})" if self.host and self.host != through
                             else "")


@dataclass(frozen=True)
class Unroutable:
    """Why no GET reaches the rule's target, and how to fix it."""

    reason: str
    hint: str = FIX


def _values(condition: Mapping[str, Any], config: str) -> list[str]:
    """A condition's values: ``<Config>.Values`` or the older top-level ``Values``."""
    values = (condition.get(config) or {}).get("Values") or condition.get("Values") or []
    return [str(v) for v in values]


def _pattern(pattern: str) -> re.Pattern[str]:
    """An ALB path pattern (case sensitive; ``*`` any characters, ``?`` exactly one)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern))


def path_for(patterns: Sequence[str], path: str) -> str | None:
    """The path to GET so that one of ``patterns`` routes it: ``path`` itself when one
    matches; the pattern's literal prefix before ``path`` (``/api/*`` and ``/health`` give
    ``/api/health``); a pattern with no wildcard itself when ``path`` is ``/``; else None."""
    bare = path.split("?", 1)[0]
    if any(_pattern(p).fullmatch(bare) for p in patterns):
        return path
    for p in patterns:
        prefix = p[:-1] if p.endswith("*") else None
        if prefix and "*" not in prefix and "?" not in prefix:
            joined = prefix.rstrip("/") + path
            if _pattern(p).fullmatch(joined.split("?", 1)[0]):
                return joined
    if path == "/":
        return next((p for p in patterns if "*" not in p and "?" not in p), None)
    return None


def _host(condition: Mapping[str, Any], rule: str) -> str | Unroutable:
    hosts = [h for h in _values(condition, "HostHeaderConfig")
             if "*" not in h and "?" not in h and is_dns_name(h)]
    if hosts:
        return hosts[0].rstrip(".").lower()
    shown = ", ".join(_values(condition, "HostHeaderConfig"))[:200]
    return Unroutable(f"listener rule {rule} has no exact host name in host-header "
                      f"{shown!r} (wildcards only?): the smoke check needs one to send",
                      f"add an exact host name to the rule's host-header values, or {FIX}")


def _refusal(field: str, rule: str) -> Unroutable:
    what = {"http-header": "an HTTP header", "query-string": "a query string",
            "source-ip": "the client's source IP"}.get(field, f"condition {field!r}")
    return Unroutable(
        f"listener rule {rule} routes on {field} ({what}): the smoke check sends a plain GET "
        "with only a Host header and a path, so it cannot match this rule",
        f"route the test traffic by host-header, path-pattern or a listener port of its own, "
        f"or {FIX}")


def _conditions(rule: ListenerRule, path: str) -> tuple[str | None, str] | Unroutable:
    """(Host header, path) the rule's conditions want, or why a GET cannot match them."""
    host: str | None = None
    for condition in rule.conditions:
        field = str(condition.get("Field", ""))
        if condition.get("RegexValues") or any(
                isinstance(v, Mapping) and v.get("RegexValues") for v in condition.values()):
            return Unroutable(f"listener rule {rule.arn} matches {field} by a regular "
                              "expression: the smoke check cannot tell what to send")
        if field == "host-header":
            found = _host(condition, rule.arn)
            if isinstance(found, Unroutable):
                return found
            host = found
        elif field == "path-pattern":
            patterns = _values(condition, "PathPatternConfig")
            routed = path_for(patterns, path)
            if routed is None:
                return Unroutable(
                    f"smoke.path {path} is not routed by listener rule {rule.arn} "
                    f"(path-pattern {', '.join(patterns)[:200]!r})",
                    "set smoke.path to a path the rule routes, or " + FIX)
            path = routed
        elif field == "http-request-method":
            if "GET" not in _values(condition, "HttpRequestMethodConfig"):
                return Unroutable(f"listener rule {rule.arn} does not route GET requests "
                                  "(http-request-method): the smoke check sends a GET",
                                  "add GET to the rule's methods, or " + FIX)
        else:
            return _refusal(field, rule.arn)
    return host, path


def request_for(rule: ListenerRule, path: str) -> SmokeRequest | Unroutable:
    """The GET of ``path`` that ``rule`` routes to its target (HTTP/HTTPS listeners only)."""
    scheme = SCHEMES.get(rule.protocol)
    if scheme is None:
        return Unroutable(
            f"{rule.arn} is a {rule.protocol or 'non-HTTP'} listener (a Network Load "
            "Balancer?): the release cannot tell how to speak to it", FIX)
    if not is_dns_name(rule.dns_name) or not 0 < rule.port < 65536:
        return Unroutable(f"{rule.arn}: its load balancer's address is not a DNS name and "
                          "port the smoke check can use", FIX)
    wanted = _conditions(rule, path)
    if isinstance(wanted, Unroutable):
        return wanted
    host, routed = wanted
    port = "" if DEFAULT_PORTS[scheme] == rule.port else f":{rule.port}"
    return SmokeRequest(f"{scheme}://{rule.dns_name.rstrip('.').lower()}{port}{routed}", host)


def listener_of(rule_arn: str) -> str | None:
    """The listener ARN a listener rule ARN belongs to (rule ARNs carry it), the ARN itself
    when it names a listener, else None."""
    head, sep, tail = rule_arn.partition(":listener-rule/")
    if sep:
        parts = tail.split("/")
        return f"{head}:listener/{'/'.join(parts[:-1])}" if len(parts) == 5 else None
    return rule_arn if ":listener/" in rule_arn else None


def explicit(url: str, host: str | None, path: str) -> SmokeRequest:
    """The GET of ``path`` under ``smoke.url`` (checked when the config was loaded)."""
    return SmokeRequest(url.rstrip("/") + path, host.rstrip(".").lower() if host else None)
