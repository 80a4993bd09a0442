"""The recorder and IAM evaluator the coverage tests trust (tests/iam_calls.py)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber
from iam_calls import Call, Scope, allows, iam_action, missing, recording

from release.adapters.aws.clients import AwsClients
from release.config.model import AwsAccount

SCOPE = Scope("aws", "eu-west-1", "111111111111")
ACCOUNT = AwsAccount("eu-west-1", "111111111111", "arn:aws:iam::111111111111:role/r",
                     endpoint_url="http://127.0.0.1:1")


def _model(service: str, operation: str) -> Any:
    return botocore.session.Session().get_service_model(service).operation_model(operation)


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("elbv2", "DescribeRules", "elasticloadbalancing:DescribeRules"),
    ("cloudwatch", "DescribeAlarms", "cloudwatch:DescribeAlarms"),
    ("stepfunctions", "UpdateStateMachine", "states:UpdateStateMachine"),
    ("logs", "GetLogEvents", "logs:GetLogEvents"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("s3", "HeadObject", "s3:GetObject"),
    ("ecs", "ListServiceDeployments", "ecs:ListServiceDeployments"),
])
def test_operations_are_named_as_iam_names_them(service: str, operation: str,
                                                action: str) -> None:
    assert iam_action(_model(service, operation)) == action


POLICY = {"Statement": [
    {"Effect": "Allow", "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
     "Resource": "arn:aws:ecs:eu-west-1:111111111111:service/dev/web"},
    {"Effect": "Allow", "Action": "lambda:InvokeFunction",
     "Resource": ["arn:aws:lambda:eu-west-1:111111111111:function:api:*"]},
    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
     "Resource": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:npm-??????"},
    {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
    {"Effect": "Deny", "Action": "*", "Resource": "*"},
]}


@pytest.mark.parametrize(("call", "allowed"), [
    (Call("ecs:UpdateService", "arn:aws:ecs:eu-west-1:111111111111:service/dev/web"), True),
    (Call("ECS:updateservice", "arn:aws:ecs:eu-west-1:111111111111:service/dev/web"), True),
    (Call("ecs:UpdateService", "arn:aws:ecs:eu-west-1:111111111111:service/dev/web2"), False),
    (Call("ecs:StopTask", "arn:aws:ecs:eu-west-1:111111111111:service/dev/web"), False),
    (Call("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:111111111111:function:api:7"),
     True),
    (Call("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:111111111111:function:api"),
     False),
    (Call("secretsmanager:GetSecretValue",
          "arn:aws:secretsmanager:eu-west-1:111111111111:secret:npm-AbCdEf"), True),
    (Call("secretsmanager:GetSecretValue",
          "arn:aws:secretsmanager:eu-west-1:111111111111:secret:npm-token-AbCdEf"), False),
    (Call("ec2:DescribeNetworkInterfaces", "*"), True),
    (Call("elasticloadbalancing:DescribeRules", "*"), False),  # a Deny never allows
    (Call("ecs:ListTasks", "*"), False),  # an underived resource never matches a scoped one
])
def test_only_a_matching_allow_statement_allows(call: Call, allowed: bool) -> None:
    assert allows(POLICY, call) is allowed


def test_every_call_of_an_aws_clients_session_is_recorded_with_its_resources(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with recording(monkeypatch, SCOPE) as recorder:
        clients = AwsClients(ACCOUNT)
        ecs = clients.client("ecs")
        with Stubber(ecs) as stub:
            stub.add_response("run_task", {"tasks": []})
            stub.add_response("describe_tasks", {"tasks": []})
            ecs.run_task(cluster="dev", taskDefinition="web:3",
                         overrides={"taskRoleArn": "arn:aws:iam::111111111111:role/t"})
            ecs.describe_tasks(cluster="dev", tasks=["abc"])
        clients.close()
    assert recorder.calls == [
        Call("ecs:RunTask", "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:3"),
        Call("iam:PassRole", "arn:aws:iam::111111111111:role/t"),
        Call("ecs:DescribeTasks", "arn:aws:ecs:eu-west-1:111111111111:task/dev/abc")]
    assert missing(POLICY, recorder.calls) == [
        "ecs:DescribeTasks on arn:aws:ecs:eu-west-1:111111111111:task/dev/abc",
        "ecs:RunTask on arn:aws:ecs:eu-west-1:111111111111:task-definition/web:3",
        "iam:PassRole on arn:aws:iam::111111111111:role/t"]
