"""release.planning.taskdef.render: base template + environment values -> register input."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from release.config.model import EcsDeployment
from release.planning.taskdef import (
    READ_ONLY_FIELDS,
    RenderInput,
    UnknownPlaceholderError,
    render,
    strip_read_only,
    substitute,
)

PLACEHOLDERS = {"env": "dev", "service": "web", "region": "eu-west-1",
                "account_id": "111111111111"}
DEP = EcsDeployment(cluster="dev", service="web", family="dev-web", container=None)


def template(**overrides: Any) -> dict[str, Any]:
    """A describe-task-definition style template with one container."""
    body: dict[str, Any] = {
        "taskDefinitionArn": "arn:aws:ecs:${region}:${account_id}:task-definition/x:4",
        "revision": 4,
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
        "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": "2024-03-14T09:12:45.123000+00:00",
        "registeredBy": "arn:aws:sts::1:assumed-role/x/y",
        "family": "${env}-${service}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "web:placeholder",
            "essential": True,
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "environment": [
                {"name": "STAGE", "value": "${env}"},
                {"name": "THRESHOLD", "value": "0.6"},
                {"name": "AWS_ACCESS_KEY_ID", "value": "AKIA-was-here"},
            ],
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 30},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/${env}-web", "awslogs-region": "${region}",
                            "awslogs-stream-prefix": "web"},
            },
        }],
    }
    body.update(overrides)
    return body


def run(tpl: dict[str, Any], dep: EcsDeployment = DEP, **kwargs: Any) -> dict[str, Any]:
    data = RenderInput(template=tpl, deployment=dep, image=kwargs.pop("image", "reg/web@sha256:1"),
                       region=kwargs.pop("region", "eu-west-1"),
                       placeholders=kwargs.pop("placeholders", PLACEHOLDERS), **kwargs)
    return render(data)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment", [])}


def test_read_only_fields_are_dropped() -> None:
    out = run(template())
    for name in READ_ONLY_FIELDS:
        assert name not in out
    assert "taskDefinitionArn" in template()  # the input had them


def test_family_image_and_kept_fields() -> None:
    out = run(template())
    assert out["family"] == "dev-web"
    container = out["containerDefinitions"][0]
    assert container["image"] == "reg/web@sha256:1"
    assert out["requiresCompatibilities"] == ["FARGATE"]
    assert out["networkMode"] == "awsvpc"
    assert container["portMappings"] == [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
    assert container["healthCheck"] == {"command": ["CMD-SHELL", "true"], "interval": 30}
    assert container["essential"] is True


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({}, "cpu", "256"),
        ({"cpu": "1024"}, "cpu", "1024"),
        ({}, "memory", "512"),
        ({"memory": "2048"}, "memory", "2048"),
        ({"family": "custom"}, "family", "custom"),
        ({"execution_role_arn": "arn:aws:iam::1:role/exec"}, "executionRoleArn",
         "arn:aws:iam::1:role/exec"),
        ({"task_role_arn": "arn:aws:iam::1:role/task"}, "taskRoleArn", "arn:aws:iam::1:role/task"),
    ],
)
def test_environment_values_override_the_template(
    changes: dict[str, Any], field: str, expected: str
) -> None:
    assert run(template(), replace(DEP, **changes))[field] == expected


def test_roles_absent_stay_absent_and_template_roles_are_kept() -> None:
    assert "executionRoleArn" not in run(template())
    out = run(template(taskRoleArn="arn:aws:iam::${account_id}:role/t"))
    assert out["taskRoleArn"] == "arn:aws:iam::111111111111:role/t"


def test_environment_is_merged_by_name_and_sorted() -> None:
    dep = replace(DEP, environment={"THRESHOLD": "0.5", "MODEL_PATH": "s3://m"})
    container = run(template(), dep)["containerDefinitions"][0]
    assert env_of(container) == {"STAGE": "dev", "THRESHOLD": "0.5", "MODEL_PATH": "s3://m",
                                 "AWS_ACCESS_KEY_ID": "AKIA-was-here"}
    names = [e["name"] for e in container["environment"]]
    assert names == sorted(names)


def test_a_name_moved_to_secrets_leaves_environment() -> None:
    arn = "arn:aws:ssm:eu-west-1:111111111111:parameter/dev/web/key-id"
    dep = replace(DEP, secrets={"AWS_ACCESS_KEY_ID": arn})
    container = run(template(), dep)["containerDefinitions"][0]
    assert "AWS_ACCESS_KEY_ID" not in env_of(container)
    assert container["secrets"] == [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": arn}]


def test_template_secrets_are_merged_with_environment_secrets() -> None:
    tpl = template()
    tpl["containerDefinitions"][0]["secrets"] = [{"name": "B", "valueFrom": "old"},
                                                 {"name": "C", "valueFrom": "c"}]
    dep = replace(DEP, secrets={"B": "new", "A": "a"})
    secrets = run(tpl, dep)["containerDefinitions"][0]["secrets"]
    assert secrets == [{"name": "A", "valueFrom": "a"}, {"name": "B", "valueFrom": "new"},
                       {"name": "C", "valueFrom": "c"}]


@pytest.mark.parametrize(
    ("log_group", "options", "group"),
    [
        (None, {"awslogs-group": "/ecs/${env}-web"}, "/ecs/dev-web"),
        ("/ecs/custom", {"awslogs-group": "/ecs/${env}-web"}, "/ecs/custom"),
        (None, {}, "/ecs/dev-web"),  # the default follows the family
    ],
)
def test_awslogs_group_and_region(
    log_group: str | None, options: dict[str, str], group: str
) -> None:
    tpl = template()
    tpl["containerDefinitions"][0]["logConfiguration"] = {"logDriver": "awslogs",
                                                          "options": options}
    out = run(tpl, replace(DEP, log_group=log_group), region="us-east-2")
    logs = out["containerDefinitions"][0]["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == group
    assert logs["options"]["awslogs-region"] == "us-east-2"
    assert logs["options"]["awslogs-stream-prefix"] == "ecs"


def test_stream_prefix_from_the_template_is_kept() -> None:
    logs = run(template())["containerDefinitions"][0]["logConfiguration"]
    assert logs["options"]["awslogs-stream-prefix"] == "web"


def test_logs_are_added_only_when_asked() -> None:
    tpl = template()
    del tpl["containerDefinitions"][0]["logConfiguration"]
    assert "logConfiguration" not in run(tpl)["containerDefinitions"][0]
    logs = run(tpl, replace(DEP, log_group="/ecs/x"))["containerDefinitions"][0]
    assert logs["logConfiguration"]["options"]["awslogs-group"] == "/ecs/x"


def test_other_log_drivers_are_left_alone() -> None:
    tpl = template()
    tpl["containerDefinitions"][0]["logConfiguration"] = {"logDriver": "json-file"}
    out = run(tpl)
    assert out["containerDefinitions"][0]["logConfiguration"] == {"logDriver": "json-file"}


def test_placeholders_are_substituted_everywhere() -> None:
    tpl = template(taskRoleArn="arn:aws:iam::${account_id}:role/${env}-${service}")
    out = run(tpl)
    assert out["taskRoleArn"] == "arn:aws:iam::111111111111:role/dev-web"
    assert env_of(out["containerDefinitions"][0])["STAGE"] == "dev"
    assert "${" not in repr(out)


def test_unknown_placeholder_raises_with_the_known_names() -> None:
    tpl = template()
    tpl["containerDefinitions"][0]["environment"][0]["value"] = "${enviroment}"
    with pytest.raises(UnknownPlaceholderError) as caught:
        run(tpl)
    assert caught.value.name == "enviroment"
    assert caught.value.known == sorted(PLACEHOLDERS)
    assert "${enviroment}" in str(caught.value)


def test_describe_output_wrapper_is_accepted() -> None:
    wrapped = {"taskDefinition": template(), "tags": [{"key": "team", "value": "${service}"}]}
    out = run(wrapped, tags={"release:build-key": "abc"})
    assert "taskDefinition" not in out
    assert out["family"] == "dev-web"
    assert out["containerDefinitions"][0]["image"] == "reg/web@sha256:1"
    assert out["tags"] == [{"key": "release:build-key", "value": "abc"},
                           {"key": "team", "value": "web"}]


def test_template_tags_are_kept_beside_release_tags() -> None:
    out = run(template(tags=[{"key": "team", "value": "vision"}]), tags={"owner": "release"})
    assert out["tags"] == [{"key": "owner", "value": "release"},
                           {"key": "team", "value": "vision"}]


def test_the_named_container_gets_the_image() -> None:
    tpl = template()
    tpl["containerDefinitions"].insert(0, {"name": "proxy", "image": "envoy:1"})
    out = run(tpl, replace(DEP, container="web"))
    by_name = {c["name"]: c for c in out["containerDefinitions"]}
    assert by_name["proxy"]["image"] == "envoy:1"
    assert by_name["web"]["image"] == "reg/web@sha256:1"


@pytest.mark.parametrize("container", [None, "missing"])
def test_no_target_container_raises(container: str | None) -> None:
    tpl = template()
    tpl["containerDefinitions"].append({"name": "proxy", "image": "envoy:1"})
    with pytest.raises(ValueError, match="container"):
        run(tpl, replace(DEP, container=container))


def test_render_does_not_change_its_input() -> None:
    tpl = template()
    before = copy.deepcopy(tpl)
    run(tpl, replace(DEP, environment={"A": "1"}, secrets={"STAGE": "arn"}, log_group="/x"))
    assert tpl == before


def test_strip_read_only_of_a_wrapper_whose_body_is_not_an_object() -> None:
    assert strip_read_only({"taskDefinition": "x", "family": "f", "revision": 3}) == {
        "taskDefinition": "x", "family": "f"}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("${env}", "dev"),
        ("a-${env}-${service}", "a-dev-web"),
        ("$env and {env}", "$env and {env}"),
        ([1, "${region}", {"k": "${account_id}"}], [1, "eu-west-1", {"k": "111111111111"}]),
        (3, 3),
        (None, None),
    ],
)
def test_substitute(node: Any, expected: Any) -> None:
    assert substitute(node, PLACEHOLDERS) == expected


def test_entries_without_a_name_do_not_break_rendering() -> None:
    # botocore's model check reports them with their location; rendering must get that far.
    tpl = template()
    tpl["containerDefinitions"][0]["secrets"] = [{}]
    tpl["containerDefinitions"][0]["environment"] = [{"value": "1"}]
    container = run(tpl, replace(DEP, environment={"A": "x"}))["containerDefinitions"][0]
    assert container["secrets"] == [{}]
    assert {"name": "A", "value": "x"} in container["environment"]


@pytest.mark.parametrize("tags", [True, "team=web", None, [1, {"value": "no key"}]])
def test_odd_tags_are_left_for_the_model_check(tags: Any) -> None:
    out = run(template(tags=tags))
    assert out.get("tags") == tags
    assert run(template(tags=tags), tags={"a": "b"})["tags"] == [{"key": "a", "value": "b"}]
