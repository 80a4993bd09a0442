"""Which GET a load balancer listener rule routes: table tests of the pure conversion."""

from __future__ import annotations

from typing import Any

import pytest

from release.planning.listener_rules import (
    ListenerRule,
    SmokeRequest,
    Unroutable,
    explicit,
    is_dns_name,
    listener_of,
    path_for,
    request_for,
)

DNS = "web-1234.eu-west-1.elb.amazonaws.com"
RULE = ("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/"
        "50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee")
LISTENER = ("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/"
            "50dc6c495c0c9188/f2f7dc8efc522ab2")


def host(*values: str) -> dict[str, Any]:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def paths(*values: str) -> dict[str, Any]:
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


def rule(*conditions: dict[str, Any], protocol: str = "HTTP", port: int = 80,
         dns: str = DNS) -> ListenerRule:
    return ListenerRule(arn=RULE, protocol=protocol, port=port, dns_name=dns,
                        conditions=conditions)


ROUTED = [
    # (name, rule, smoke.path, URL it connects to, Host header, URL people read)
    ("default-rule", rule(), "/health", f"http://{DNS}/health", None, None),
    ("test-listener-port", rule(port=8080), "/health", f"http://{DNS}:8080/health", None,
     None),
    ("https-listener", rule(protocol="HTTPS", port=443), "/", f"https://{DNS}/", None, None),
    ("https-other-port", rule(protocol="HTTPS", port=8443), "/h", f"https://{DNS}:8443/h",
     None, None),
    ("host-header", rule(host("test.web.example.com"), protocol="HTTPS", port=443),
     "/health", f"https://{DNS}/health", "test.web.example.com",
     "https://test.web.example.com/health"),
    ("host-header-first-exact-value", rule(host("*.example.com", "Canary.Example.COM")),
     "/", f"http://{DNS}/", "canary.example.com", "http://canary.example.com/"),
    ("host-header-and-port", rule(host("t.example.com"), port=8080), "/",
     f"http://{DNS}:8080/", "t.example.com", "http://t.example.com:8080/"),
    ("path-matches-pattern", rule(paths("/api/*")), "/api/health",
     f"http://{DNS}/api/health", None, None),
    ("path-prefix-before-smoke-path", rule(paths("/api/*")), "/health",
     f"http://{DNS}/api/health", None, None),
    ("path-prefix-without-slash", rule(paths("/api*")), "/health",
     f"http://{DNS}/api/health", None, None),
    ("path-exact-pattern-for-root", rule(paths("/canary")), "/", f"http://{DNS}/canary",
     None, None),
    ("path-question-mark-wildcard", rule(paths("/v?/health")), "/v2/health",
     f"http://{DNS}/v2/health", None, None),
    ("path-query-kept", rule(paths("/api/*")), "/api/h?full=1", f"http://{DNS}/api/h?full=1",
     None, None),
    ("older-values-form", rule({"Field": "path-pattern", "Values": ["/x/*"]}), "/y",
     f"http://{DNS}/x/y", None, None),
    ("get-method-allowed", rule({"Field": "http-request-method",
                                 "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}}),
     "/", f"http://{DNS}/", None, None),
    ("host-and-path", rule(host("t.example.com"), paths("/v1/*")), "/health",
     f"http://{DNS}/v1/health", "t.example.com", "http://t.example.com/v1/health"),
]


@pytest.mark.parametrize("case", ROUTED, ids=[r[0] for r in ROUTED])
def test_a_rule_becomes_a_get(case: tuple[Any, ...]) -> None:
    name, listener, path, url, host_header, shown = case
    request = request_for(listener, path)
    assert request == SmokeRequest(url, host_header), name
    assert request.shown == (shown or url)


REFUSED = [
    # (name, rule, smoke.path, words the reason must have, words the hint must have)
    ("http-header", rule({"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Canary", "Values": ["1"]}}), "/", "routes on http-header",
     "smoke.url"),
    ("query-string", rule({"Field": "query-string", "QueryStringConfig": {
        "Values": [{"Key": "canary", "Value": "1"}]}}), "/", "routes on query-string",
     "smoke.url"),
    ("source-ip", rule({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}),
     "/", "source IP", "host-header, path-pattern or a listener port"),
    ("host-only-wildcards", rule(host("*.example.com", "canary-?.example.com")), "/",
     "no exact host name", "exact host name"),
    ("host-not-a-name", rule(host("bad name")), "/", "no exact host name", "smoke.url"),
    ("host-regex", rule({"Field": "host-header", "HostHeaderConfig": {
        "RegexValues": ["^t.*$"]}}), "/", "regular expression", "smoke.url"),
    ("path-regex", rule({"Field": "path-pattern", "RegexValues": ["^/a"]}), "/",
     "regular expression", "smoke.url"),
    ("path-not-routed", rule(paths("/canary")), "/health", "smoke.path /health is not routed",
     "set smoke.path"),
    ("path-wildcard-in-the-middle", rule(paths("/v*/x")), "/health", "is not routed",
     "smoke.path"),
    ("method-not-get", rule({"Field": "http-request-method",
                             "HttpRequestMethodConfig": {"Values": ["POST"]}}), "/",
     "does not route GET", "add GET"),
    ("network-load-balancer", rule(protocol="TCP"), "/", "TCP listener", "smoke.url"),
    ("tls-listener", rule(protocol="TLS", port=443), "/", "TLS listener", "smoke.url"),
    ("dns-name-hostile", rule(dns="evil.example.com/x?"), "/", "not a DNS name", "smoke.url"),
    ("dns-name-an-ip", rule(dns="10.0.0.1"), "/", "not a DNS name", "smoke.url"),
    ("dns-name-with-newline", rule(dns="a.example.com\n::error::x"), "/", "not a DNS name",
     "smoke.url"),
    ("port-zero", rule(port=0), "/", "not a DNS name and port", "smoke.url"),
]


@pytest.mark.parametrize(("name", "listener", "path", "reason", "hint"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_a_rule_no_get_can_match_is_said_why(name: str, listener: ListenerRule, path: str,
                                            reason: str, hint: str) -> None:
    refused = request_for(listener, path)
    assert isinstance(refused, Unroutable), name
    assert reason in refused.reason
    assert hint in refused.hint


@pytest.mark.parametrize(("patterns", "path", "routed"), [
    (["/a"], "/a", "/a"),
    (["/a"], "/A", None),  # case sensitive, as ALB
    (["/a", "/b/*"], "/c", "/b/c"),
    (["/*"], "/anything", "/anything"),
    (["/a.b"], "/aXb", None),  # a dot is a dot
    (["/api/*"], "/", "/api/"),
    ([], "/", None),
])
def test_path_for(patterns: list[str], path: str, routed: str | None) -> None:
    assert path_for(patterns, path) == routed


@pytest.mark.parametrize(("arn", "listener"), [
    (RULE, LISTENER),
    (LISTENER, LISTENER),  # a Network Load Balancer's listener, named directly
    ("arn:aws:elasticloadbalancing:eu-west-1:1:listener-rule/app/web/x", None),
    ("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/x", None),
])
def test_listener_of(arn: str, listener: str | None) -> None:
    assert listener_of(arn) == listener


@pytest.mark.parametrize(("host", "ok"), [
    ("web.example.com", True), ("localhost", True), ("a-b.c.", True),
    ("10.0.0.1", False), ("167772161", False), ("10.1", False), ("0x0a000001", False),
    ("web.example.com\n", False), ("-bad.example.com", False), ("a_b.example.com", False),
    ("a" * 64 + ".com", False), ("", False), ("a b", False),
])
def test_is_dns_name(host: str, ok: bool) -> None:
    assert is_dns_name(host) is ok


def test_explicit_url_and_what_people_read() -> None:
    request = explicit("https://nlb.example.com:8443/", "Web.Example.com.", "/health")
    assert request == SmokeRequest("https://nlb.example.com:8443/health", "web.example.com")
    assert request.shown == "https://web.example.com:8443/health"
    assert request.described == ("https://web.example.com:8443/health "
                                 "(through nlb.example.com)")
    plain = explicit("http://api.example.com/v1", None, "/health")
    assert plain.described == plain.url == "http://api.example.com/v1/health"
