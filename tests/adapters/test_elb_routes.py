"""An ECS service's routes on AWS, looked up against moto's ELBv2 and ECS: the test URL a
smoke check goes to during blue/green, canary and linear, and the service URL after a
rolling update, from the listener rules ``loadBalancers[].advancedConfiguration`` names
(moto keeps advancedConfiguration as given). What moto cannot show (a role without the
ELB permissions) uses botocore's Stubber with the shapes botocore defines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from release.adapters.aws import ecs_address, ecs_smoke, elb_routes
from release.config.model import SmokeCheck
from release.planning.listener_rules import ListenerRule, SmokeRequest, Unroutable

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/ecs-blue-green"


class Counting:
    """A boto3 client that records the operations called through it."""

    def __init__(self, client: Any, calls: list[str]) -> None:
        self._client, self._calls = client, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def called(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return attribute(*args, **kwargs)
        return called


@dataclass
class Cloud:
    """moto's ELBv2 and ECS with one Application Load Balancer (production listener :80,
    test listener :8080) and one Network Load Balancer."""

    elbv2: Any
    ecs: Any
    vpc: str
    alb: dict[str, Any]
    production: str  # the :80 listener
    test: str  # the :8080 listener
    nlb_listener: str
    calls: list[str] = field(default_factory=list)

    def client(self, name: str) -> Any:
        return Counting({"elbv2": self.elbv2, "ecs": self.ecs}[name], self.calls)

    def group(self, name: str) -> str:
        return str(self.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=self.vpc,
            TargetType="ip")["TargetGroups"][0]["TargetGroupArn"])

    def rule(self, listener: str, priority: int, *conditions: dict[str, Any]) -> str:
        return str(self.elbv2.create_rule(
            ListenerArn=listener, Priority=priority, Conditions=list(conditions),
            Actions=[{"Type": "forward", "TargetGroupArn": self.group(
                f"g{listener.rsplit('/', 1)[-1][:8]}-{priority}")}],
        )["Rules"][0]["RuleArn"])

    def service(self, name: str, production: str | None, test: str | None) -> dict[str, Any]:
        """A service with the blue/green load balancer wiring; its DescribeServices entry."""
        advanced = {"alternateTargetGroupArn": self.group(f"{name}-green"), "roleArn": ROLE}
        advanced.update({k: v for k, v in (("productionListenerRule", production),
                                           ("testListenerRule", test)) if v})
        self.ecs.create_service(
            cluster="c", serviceName=name, taskDefinition="web", desiredCount=1,
            loadBalancers=[{"targetGroupArn": self.group(f"{name}-blue"),
                            "containerName": "web", "containerPort": 80,
                            "advancedConfiguration": advanced}])
        return dict(self.ecs.describe_services(cluster="c", services=[name])["services"][0])


def _listener(elbv2: Any, balancer: str, protocol: str, port: int, group: str) -> str:
    return str(elbv2.create_listener(
        LoadBalancerArn=balancer, Protocol=protocol, Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])["Listeners"][0][
            "ListenerArn"])


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        ecs = boto3.client("ecs", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
                   for i, zone in ((1, "a"), (2, "b"))]
        alb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
        nlb = elbv2.create_load_balancer(Name="tcp", Subnets=subnets,
                                         Type="network")["LoadBalancers"][0]
        made = Cloud(elbv2, ecs, vpc, alb, "", "", "")
        default = made.group("default")
        made.production = _listener(elbv2, alb["LoadBalancerArn"], "HTTP", 80, default)
        made.test = _listener(elbv2, alb["LoadBalancerArn"], "HTTP", 8080, default)
        made.nlb_listener = _listener(elbv2, nlb["LoadBalancerArn"], "TCP", 9000,
                                      made.group("tcp"))
        ecs.create_cluster(clusterName="c")
        ecs.register_task_definition(family="web", containerDefinitions=[
            {"name": "web", "image": "web", "memory": 128}])
        yield made


def _host(value: str) -> dict[str, Any]:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": [value]}}


def _paths(value: str) -> dict[str, Any]:
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": [value]}}


def test_the_test_url_comes_from_the_test_listener_rule(cloud: Cloud) -> None:
    test = cloud.rule(cloud.test, 10, _host("test.web.example.com"), _paths("/api/*"))
    production = cloud.rule(cloud.production, 10, _host("web.example.com"))
    cloud.service("web", production, test)
    cloud.calls.clear()
    request = ecs_smoke.test_request(cloud.client, "c", "web", "arn:td/web:2",
                                     SmokeCheck(path="/health"))
    dns = cloud.alb["DNSName"]
    assert request == SmokeRequest(f"http://{dns}:8080/api/health", "test.web.example.com")
    assert request.described == (f"http://test.web.example.com:8080/api/health "
                                 f"(through {dns})")
    assert cloud.calls == ["describe_services", "describe_rules", "describe_listeners",
                           "describe_load_balancers"]


def test_after_a_rolling_update_the_check_goes_to_the_production_rule(cloud: Cloud) -> None:
    production = cloud.rule(cloud.production, 10, _host("web.example.com"))
    described = cloud.service("web", production, None)
    request = ecs_smoke.service_request(cloud.client, "c", described, SmokeCheck(path="/h"))
    assert request == SmokeRequest(f"http://{cloud.alb['DNSName']}/h", "web.example.com")


def test_service_urls_of_many_services_take_three_elb_calls(cloud: Cloud) -> None:
    spots = []
    for i in range(25):  # more than one describe call's worth of rules
        rule = cloud.rule(cloud.production, 100 + i, _host(f"s{i}.example.com"))
        spots.append(("c", cloud.service(f"s{i}", rule, None)))
    default = next(r["RuleArn"] for r in cloud.elbv2.describe_rules(
        ListenerArn=cloud.test)["Rules"] if r["IsDefault"])
    spots.append(("c", cloud.service("plain", default, None)))  # the listener's default rule
    cloud.calls.clear()
    urls = ecs_address.service_urls(cloud.client, spots)
    assert urls == [f"http://s{i}.example.com" for i in range(25)] + [
        f"http://{cloud.alb['DNSName']}:8080"]
    assert sorted(cloud.calls) == sorted(["describe_rules"] * 2 + ["describe_listeners"] +
                                         ["describe_load_balancers"])


def test_a_rule_routed_on_a_header_is_refused_saying_which_and_how(cloud: Cloud) -> None:
    test = cloud.rule(cloud.test, 10, {"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Canary", "Values": ["yes"]}})
    production = cloud.rule(cloud.production, 11, {"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Live", "Values": ["yes"]}})
    described = cloud.service("web", production, test)
    refused = ecs_smoke.test_request(cloud.client, "c", "web", "arn:td/web:2", SmokeCheck())
    assert isinstance(refused, Unroutable)
    assert f"listener rule {test} routes on http-header" in refused.reason
    assert "smoke.url" in refused.hint
    # the service URL is its listener's, whatever header the rule wants
    assert ecs_address.service_url(cloud.client, "c", described) == \
        f"http://{cloud.alb['DNSName']}"


def test_a_gone_rule_costs_only_its_own_route(cloud: Cloud) -> None:
    kept = cloud.rule(cloud.production, 10, _host("kept.example.com"))
    gone = cloud.rule(cloud.production, 11, _host("gone.example.com"))
    cloud.elbv2.delete_rule(RuleArn=gone)
    found = elb_routes.describe(cloud.elbv2, [kept, gone])
    assert isinstance(found[kept], ListenerRule)
    assert found[kept].conditions == (_host("kept.example.com"),)
    refused = found[gone]
    assert isinstance(refused, Unroutable)
    assert "could not be looked up: RuleNotFound" in refused.reason
    assert "DescribeRules" in refused.hint


def test_a_network_load_balancer_listener_asks_for_smoke_url(cloud: Cloud) -> None:
    cloud.service("tcp", cloud.nlb_listener, cloud.nlb_listener)
    refused = ecs_smoke.test_request(cloud.client, "c", "tcp", "arn:td/web:2", SmokeCheck())
    assert isinstance(refused, Unroutable)
    assert "TCP listener" in refused.reason
    assert "smoke.url" in refused.hint


def test_smoke_url_is_used_as_given_without_a_lookup(cloud: Cloud) -> None:
    cloud.service("web", None, cloud.rule(cloud.test, 10, _host("t.example.com")))
    check = SmokeCheck(path="/health", url="https://nlb.example.com:8443/",
                       host_header="web.example.com")
    cloud.calls.clear()
    assert ecs_smoke.test_request(cloud.client, "c", "web", "arn:td/web:2", check) == \
        SmokeRequest("https://nlb.example.com:8443/health", "web.example.com")
    assert ecs_smoke.service_request(cloud.client, "c", {}, check) == \
        SmokeRequest("https://nlb.example.com:8443/health", "web.example.com")
    assert cloud.calls == []


def test_no_route_at_all_says_what_to_give(cloud: Cloud) -> None:
    cloud.ecs.create_service(cluster="c", serviceName="bare", taskDefinition="web",
                             desiredCount=0)
    refused = ecs_smoke.test_request(cloud.client, "c", "bare", "arn:td/web:2", SmokeCheck())
    assert isinstance(refused, Unroutable)
    assert "no test URL found for c/bare" in refused.reason
    assert "testListenerRule" in refused.hint
    assert "smoke.url" in refused.hint


def test_a_role_without_elb_permissions_is_told_which() -> None:
    """moto grants every call: the AccessDenied answer is scripted with botocore's Stubber."""
    elbv2 = boto3.client("elbv2", region_name=REGION, aws_access_key_id="x",
                         aws_secret_access_key="x")
    rule = ("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/"
            "50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee")
    with Stubber(elbv2) as stub:
        stub.add_client_error("describe_rules", "AccessDenied", "not authorized to perform: "
                              "elasticloadbalancing:DescribeRules", 403,
                              expected_params={"RuleArns": [rule]})
        stub.add_client_error("describe_listeners", "AccessDenied", "not authorized", 403)
        described = {"serviceName": "web", "loadBalancers": [{
            "targetGroupArn": "arn:tg", "advancedConfiguration": {
                "alternateTargetGroupArn": "arn:tg2", "productionListenerRule": rule,
                "testListenerRule": rule, "roleArn": ROLE}}]}
        refused = ecs_smoke.service_request(lambda _name: elbv2, "c", described, SmokeCheck())
    assert isinstance(refused, Unroutable)
    assert "AccessDenied" in refused.reason
    assert "elasticloadbalancing:DescribeRules" in refused.hint


def test_stubbed_shapes_of_a_https_rule_become_a_request() -> None:
    """The answer shapes botocore defines, end to end through describe and request_for."""
    elbv2 = boto3.client("elbv2", region_name=REGION, aws_access_key_id="x",
                         aws_secret_access_key="x")
    base = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
    listener = f"{base}listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
    rule = f"{base}listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
    balancer = f"{base}loadbalancer/app/web/50dc6c495c0c9188"
    with Stubber(elbv2) as stub:
        stub.add_response("describe_rules", {"Rules": [{
            "RuleArn": rule, "Priority": "5", "IsDefault": False, "Actions": [],
            "Conditions": [{"Field": "host-header", "HostHeaderConfig": {
                "Values": ["test.web.example.com"]}}]}]}, {"RuleArns": [rule]})
        stub.add_response("describe_listeners", {"Listeners": [{
            "ListenerArn": listener, "LoadBalancerArn": balancer, "Port": 8443,
            "Protocol": "HTTPS"}]}, {"ListenerArns": [listener]})
        stub.add_response("describe_load_balancers", {"LoadBalancers": [{
            "LoadBalancerArn": balancer, "Scheme": "internal", "Type": "application",
            "DNSName": "internal-web-1.eu-west-1.elb.amazonaws.com"}]},
            {"LoadBalancerArns": [balancer]})
        described = {"loadBalancers": [{"advancedConfiguration": {"testListenerRule": rule}}]}
        assert elb_routes.rule_arn(described, "testListenerRule") == rule
        request = ecs_smoke.service_request(lambda _name: elbv2, "c", {
            "loadBalancers": [{"advancedConfiguration": {"productionListenerRule": rule}}]},
            SmokeCheck(path="/health"))
    assert request == SmokeRequest(
        "https://internal-web-1.eu-west-1.elb.amazonaws.com:8443/health",
        "test.web.example.com")
