"""The load balancer routes of ECS services: the listener rules ECS blue/green names in a
service's ``loadBalancers[].advancedConfiguration`` (``productionListenerRule``,
``testListenerRule``), looked up in ELBv2 with their listener's protocol and port and their
load balancer's DNS name.

Services are looked up together: one DescribeRules, DescribeListeners and
DescribeLoadBalancers per 20 names. A rule that no longer exists, or a lookup the role may
not make, costs that rule its route (reported as Unroutable, with the fix), not the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError

from release.planning.listener_rules import ListenerRule, Unroutable, listener_of

NAMES = 20  # ARNs per describe call
Which = Literal["productionListenerRule", "testListenerRule"]
PERMISSIONS = ("let the release's role call elasticloadbalancing:DescribeRules, "
               "DescribeListeners and DescribeLoadBalancers, or give smoke.url")


def rule_arn(service: Mapping[str, Any], which: Which) -> str | None:
    """The ARN of the service's ``which`` listener rule (a DescribeServices entry), if any."""
    for balancer in service.get("loadBalancers") or ():
        arn = (balancer.get("advancedConfiguration") or {}).get(which)
        if isinstance(arn, str) and arn:
            return arn
    return None


def _chunks(items: Iterable[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i:i + NAMES] for i in range(0, len(unique), NAMES)]


def _each(call: Callable[[list[str]], list[dict[str, Any]]], arns: Iterable[str],
          missing: dict[str, str]) -> list[dict[str, Any]]:
    """``call`` over ``arns`` 20 at a time; a chunk naming one that is gone (the whole call
    fails then) is asked again one by one, the gone ones put in ``missing`` with why."""
    found: list[dict[str, Any]] = []
    for chunk in _chunks(arns):
        try:
            found += call(chunk)
        except ClientError as exc:
            if len(chunk) == 1 or not str(exc.response.get("Error", {}).get(
                    "Code", "")).endswith("NotFound"):
                for arn in chunk:
                    missing[arn] = _why(exc)
                continue
            for arn in chunk:
                found += _each(call, [arn], missing)
    return found


def _why(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {str(error.get('Message', ''))[:200]}"


def describe(elbv2: Any, arns: Sequence[str]) -> dict[str, ListenerRule | Unroutable]:
    """For each listener rule ARN (or listener ARN, as ECS gives for a Network Load
    Balancer): the rule with its listener and DNS name, or why it cannot be had."""
    missing: dict[str, str] = {}
    rules = {r["RuleArn"]: r for r in _each(
        lambda c: elbv2.describe_rules(RuleArns=c)["Rules"],
        [a for a in arns if ":listener-rule/" in a], missing)}
    listener_arns = {arn: listener_of(arn) for arn in arns}
    listeners = {ln["ListenerArn"]: ln for ln in _each(
        lambda c: elbv2.describe_listeners(ListenerArns=c)["Listeners"],
        [ln for ln in listener_arns.values() if ln], missing)}
    balancers = {lb["LoadBalancerArn"]: lb for lb in _each(
        lambda c: elbv2.describe_load_balancers(LoadBalancerArns=c)["LoadBalancers"],
        [ln["LoadBalancerArn"] for ln in listeners.values() if ln.get("LoadBalancerArn")],
        missing)}
    found: dict[str, ListenerRule | Unroutable] = {}
    for arn in arns:
        listener = listeners.get(listener_arns[arn] or "", {})
        balancer = balancers.get(listener.get("LoadBalancerArn", ""), {})
        rule = rules.get(arn, {}) if ":listener-rule/" in arn else {}
        gone = missing.get(arn) or missing.get(listener_arns[arn] or "") or missing.get(
            listener.get("LoadBalancerArn", ""))
        if gone or not balancer.get("DNSName") or (":listener-rule/" in arn and not rule):
            found[arn] = Unroutable(
                f"the service's listener rule {arn} could not be looked up"
                f"{': ' + gone if gone else ''}", PERMISSIONS)
            continue
        found[arn] = ListenerRule(
            arn=arn, protocol=str(listener.get("Protocol", "")),
            port=int(listener.get("Port") or 0), dns_name=str(balancer["DNSName"]),
            conditions=tuple(c for c in rule.get("Conditions", ()) if isinstance(c, dict)))
    return found
