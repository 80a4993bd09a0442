"""The calls a Lambda canary makes, against moto in server mode: the alias's weights set and
cleared, read back; alarm states read with DescribeAlarms; provisioned concurrency, which
moto does not serve, read as none."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from release.adapters.aws import cloudwatch, lambda_
from release.planning import lambda_shift

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker"


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    kw = {"endpoint_url": moto_endpoint, "region_name": "eu-west-1",
          "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    return {name: boto3.client(name, **kw)  # type: ignore[call-overload]
            for name in ("lambda", "iam", "cloudwatch")}


def two_versions(aws: dict[str, Any], name: str) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    role = aws["iam"].create_role(RoleName=f"{name}-role",
                                  AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam = aws["lambda"]
    lam.create_function(FunctionName=name, Role=role, PackageType="Image",
                        Code={"ImageUri": f"{IMAGE}:1"}, Publish=True)
    lam.update_function_code(FunctionName=name, ImageUri=f"{IMAGE}:2")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")


def test_weights_are_set_then_cleared_with_the_alias_on_the_new_version(
        aws: dict[str, Any]) -> None:
    two_versions(aws, "canary-fn")
    lam = aws["lambda"]
    lambda_.route_alias(lam, "canary-fn", "live", "1", lambda_shift.routing("2", 10))
    assert lambda_.alias_routing(lam, "canary-fn", "live") == ("1", {"2": 0.1})
    lambda_.route_alias(lam, "canary-fn", "live", "2", lambda_shift.routing("2", 100))
    assert lambda_.alias_routing(lam, "canary-fn", "live") == ("2", {})
    assert lambda_.provisioned_status(lam, "canary-fn", "live") is None


def test_alarm_states_are_read_by_name(aws: dict[str, Any]) -> None:
    cw = aws["cloudwatch"]
    for name in ("fn-errors", "fn-throttles"):
        cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="fn-errors", StateValue="ALARM", StateReason="test")
    states = cloudwatch.alarm_states(cw, ["fn-errors", "fn-throttles", "fn-missing"])
    assert states["fn-errors"] == "ALARM"
    assert states["fn-throttles"] != "ALARM"
    assert "fn-missing" not in states
    gate = lambda_shift.alarm_gate(10, ["fn-errors", "fn-missing"], states)
    assert gate.detail == "fn-errors in ALARM"


def test_moving_the_alias_all_at_once_clears_weights_left_by_an_interrupted_canary(
        aws: dict[str, Any]) -> None:
    two_versions(aws, "interrupted-fn")
    lam = aws["lambda"]
    lambda_.route_alias(lam, "interrupted-fn", "live", "1", lambda_shift.routing("2", 30))
    lambda_.point_alias(lam, "interrupted-fn", "live", "1")  # a rollback, or a plain deploy
    assert lambda_.alias_routing(lam, "interrupted-fn", "live") == ("1", {})
