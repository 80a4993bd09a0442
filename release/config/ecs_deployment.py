"""``services.<name>.ecs.deployment`` of an environment file: the schema checked each field
and its range; here the fields that only make sense together are checked, and the value is
built. Pure: problems are reported through ``report(path, message, hint)``."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from release.config.model import EcsStrategy, LifecycleHook, RunTaskGate, SmokeCheck
from release.config.source import PathKey
from release.planning.listener_rules import is_dns_name

Report = Callable[[PathKey, str, str], None]
# field -> the strategies it belongs to
ONLY_FOR = {"canary_percent": ("canary",), "step_percent": ("linear",),
            "step_minutes": ("canary", "linear"),
            "bake_minutes": ("blue_green", "canary", "linear"),
            "lifecycle_hooks": ("blue_green", "canary", "linear")}


def _tenths(value: float) -> bool:
    return abs(round(value * 10) - value * 10) < 1e-6


def _hook(raw: Mapping[str, Any], at: PathKey, account: str | None,
          report: Report) -> LifecycleHook:
    function, role, pause = raw.get("lambda"), raw.get("role_arn"), raw.get("pause")
    if bool(function) == bool(pause):
        report(at, "a lifecycle hook is either a Lambda function or a pause",
               "give `lambda: <function ARN>` with `role_arn`, or `pause: true`")
    elif function and not role:
        report((*at, "lambda"), "a Lambda lifecycle hook needs role_arn",
               "add role_arn: the role ECS assumes to invoke the function")
    elif pause and role:
        report((*at, "role_arn"), "a pause hook invokes nothing: role_arn is not used",
               "remove role_arn, or give the hook a lambda")
    if role and account and f":iam::{account}:" not in str(role):
        report((*at, "role_arn"), f"role {role} is not in this environment's account "
               f"{account}", "use a role of the environment's own account")
    if not raw.get("stages"):
        report((*at, "stages"), "a lifecycle hook needs at least one stage",
               "list the stages it runs at, e.g. stages: [POST_TEST_TRAFFIC_SHIFT]")
    timeout = raw.get("timeout_minutes")
    return LifecycleHook(stages=tuple(raw.get("stages") or ()), function_arn=function,
                         role_arn=role, timeout_minutes=timeout,
                         timeout_action=raw.get("timeout_action"))


def _smoke_url(url: str, at: PathKey, report: Report) -> None:
    """``smoke.url`` is sent from the runner: an absolute http(s) URL naming a host, with
    no credentials, query or fragment, and no private or link-local IP address."""
    fix = "give an absolute URL such as https://test.example.com:8443 (smoke.path is added)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        report(at, f"smoke.url is not a valid URL: {exc}", fix)
        return
    why = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        why = "is not an absolute http(s) URL"
    elif "@" in parts.netloc:
        why = "carries credentials (user@ or user:password@): the smoke check sends none"
    elif parts.query or parts.fragment or url.endswith(("?", "#")):
        why = "has a query or fragment: put the query in smoke.path"
    elif port == 0:
        why = "has port 0"
    else:
        why = _smoke_host(parts.hostname)
    if why:
        report(at, f"smoke.url {why}", fix)


def _smoke_host(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if is_dns_name(host) else f"host {host!r} is not a DNS name"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if not address.is_loopback and (address.is_private or address.is_link_local or
                                    address.is_reserved or address.is_multicast):
        return (f"names {host}, a private or link-local address: the smoke check reaches "
                "private addresses only by a DNS name (an internal load balancer's name)")
    return None


def _smoke(raw: Mapping[str, Any] | None, at: PathKey, report: Report) -> SmokeCheck | None:
    if raw is None:
        return None
    url, host = raw.get("url"), raw.get("host_header")
    if url is not None:
        _smoke_url(str(url), (*at, "url"), report)
    if host is not None and url is None:
        report((*at, "host_header"), "smoke.host_header goes with smoke.url",
               "give smoke.url too; a route looked up from the load balancer sends the "
               "Host its listener rule wants")
    return SmokeCheck(path=str(raw.get("path", "/")), status=int(raw.get("status", 200)),
                      body_contains=raw.get("body_contains"),
                      timeout_seconds=int(raw.get("timeout_seconds", 10)),
                      url=str(url) if url is not None else None,
                      host_header=str(host) if host is not None else None)


def _gates(raw: Mapping[str, Any], at: PathKey,
           report: Report) -> tuple[RunTaskGate | None, SmokeCheck | None]:
    task = (raw.get("before_traffic") or {}).get("run_task")
    run_task = RunTaskGate(command=tuple(task["command"]), container=task.get("container"),
                           timeout_seconds=int(task.get("timeout_seconds", 600))
                           ) if task else None
    return run_task, _smoke(raw.get("smoke"), (*at, "smoke"), report)


def parse(raw: Mapping[str, Any], at: PathKey, *, account: str | None,
          report: Report) -> EcsStrategy:
    """The service's EcsStrategy (``raw`` passed the schema)."""
    strategy = str(raw.get("strategy", "rolling"))
    for key, strategies in ONLY_FOR.items():
        if key in raw and strategy not in strategies:
            report((*at, key), f"{key} does not apply to strategy {strategy}",
                   f"use it with strategy {' or '.join(strategies)}, or remove it")
    for key in ("canary_percent", "step_percent"):
        if key in raw and not _tenths(float(raw[key])):
            report((*at, key), f"{key} {raw[key]} is not a multiple of 0.1",
                   "ECS takes percentages in steps of 0.1, e.g. 12.5")
    hooks = tuple(_hook(h, (*at, "lifecycle_hooks", i), account, report)
                  for i, h in enumerate(raw.get("lifecycle_hooks") or ()))
    run_task, smoke = _gates(raw, at, report)
    return EcsStrategy(
        strategy=cast(Any, strategy),
        canary_percent=float(raw.get("canary_percent", 5.0)),
        step_percent=float(raw.get("step_percent", 10.0)),
        step_minutes=raw.get("step_minutes"), bake_minutes=int(raw.get("bake_minutes", 0)),
        alarms=tuple(raw.get("alarms") or ()),
        circuit_breaker=bool(raw.get("circuit_breaker", True)),
        lifecycle_hooks=hooks, run_task=run_task, smoke=smoke)
