"""`release init`'s pure part: names, placeholders, and what moves out of a task definition."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from release.planning import adopt

PROD = adopt.Account("prod", "eu-west-1", "111122223333",
                     "arn:aws:iam::111122223333:role/release-prod")


@pytest.mark.parametrize(("resource", "name"), [
    ("prod-orders-api", "orders-api"),
    ("orders-api-prod", "orders-api"),
    ("Orders_Worker", "orders-worker"),
    ("production-api", "production-api"),  # a whole word only
    ("prod", "prod"),
])
def test_service_name(resource: str, name: str) -> None:
    assert adopt.service_name("prod", resource) == name


@pytest.mark.parametrize(("text", "expected"), [
    ("arn:aws:iam::111122223333:role/prod-exec", "arn:aws:iam::${account_id}:role/${env}-exec"),
    ("/ecs/prod-orders", "/ecs/${env}-orders"),
    ("eu-west-1", "${region}"),
    ("production", "production"),
    ("1111222233334", "1111222233334"),  # not the account id: a longer number
])
def test_generalized(text: str, expected: str) -> None:
    assert adopt.generalized(text, PROD) == expected


def task_definition(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"taskDefinitionArn": "arn:aws:ecs:eu-west-1:111122223333:task-definition/x:3",
            "revision": 3, "status": "ACTIVE", "family": "prod-orders", "cpu": "256",
            "memory": "512", "executionRoleArn": "arn:aws:iam::111122223333:role/prod-exec",
            "containerDefinitions": list(containers)}


WEB = {"name": "web", "image": "x:1", "environment": [
    {"name": "LOG_LEVEL", "value": "info"},
    {"name": "DB_PASSWORD", "value": "Zq8#kd93-LmWq!x7"}],
    "secrets": [{"name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:111122223333:"
                                                 "parameter/k"}]}
SIDECAR = {"name": "envoy", "image": "envoy:1", "essential": False,
           "environment": [{"name": "MODE", "value": "edge"}]}


def test_the_target_container_moves_to_the_environment_file() -> None:
    notes: list[str] = []
    service = adopt.Service("orders", ecs=adopt.EcsFound("shop", "prod-orders",
                                                         task_definition(WEB, SIDECAR), 2))
    template, block, container = adopt.ecs_service(service, PROD, notes)
    assert container == "web"
    assert block == {"cluster": "shop", "service": "prod-orders", "family": "prod-orders",
                     "cpu": "256", "memory": "512",
                     "execution_role_arn": "arn:aws:iam::111122223333:role/prod-exec",
                     "environment": {"LOG_LEVEL": "info"},
                     "secrets": {"API_KEY": "arn:aws:ssm:eu-west-1:111122223333:parameter/k"},
                     "desired_count": 2}
    assert set(template) == {"containerDefinitions"}  # read-only fields and sizes are gone
    web, sidecar = template["containerDefinitions"]
    assert web == {"name": "web", "image": "orders:set-by-release"}
    assert sidecar["environment"] == [{"name": "MODE", "value": "edge"}]
    [note] = notes
    assert "DB_PASSWORD" in note
    assert "Zq8#" not in note


def test_every_file_is_valid_yaml_or_json_and_no_secret_is_copied() -> None:
    services = [adopt.Service("orders", ecs=adopt.EcsFound("shop", "prod-orders",
                                                           task_definition(WEB))),
                adopt.Service("worker", function=adopt.LambdaFound(
                    "prod-worker", "live", {"QUEUE": "q", "API_TOKEN": "ghp_" + "a" * 36}))]
    made = adopt.adopted(services, PROD, adopt.Layout({"orders": "orders", "worker": "."},
                                                      tool_ref="a" * 40, tool_version="v0.2.0"))
    assert set(made.files) == {"release.yaml", "environments/prod.yaml",
                               "environments/local.yaml", "deploy/orders.task.json",
                               ".github/workflows/release.yml"}
    for path, text in made.files.items():
        assert "Zq8#" not in text
        assert "ghp_" not in text
        if path.endswith((".yaml", ".yml")):
            assert yaml.safe_load(text)
    assert len(made.notes) == 2
    release = yaml.safe_load(made.files["release.yaml"])
    assert release["services"]["worker"] == {"context": ".", "lambda": {}}
    workflow = made.files[".github/workflows/release.yml"]
    assert f"deploy.yml@{'a' * 40}  # v0.2.0" in workflow
    local = yaml.safe_load(made.files["environments/local.yaml"])
    assert local["services"]["orders"]["ecs"]["environment"] == {"LOG_LEVEL": "info"}
    assert "secrets" not in local["services"]["orders"]["ecs"]
