"""Null fields in task definition templates are dropped, as the AWS deploy action does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from badcorpus import BASE

from release.config import load_config
from release.config.template import drop_nulls
from release.engine import rendering
from release.errors import ConfigError


@pytest.mark.parametrize(
    ("data", "cleaned", "dropped"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": None, "b": 1}, {"b": 1}, ["a"]),
        ({"a": {"b": None, "c": None}, "d": 1}, {"d": 1}, ["a"]),
        ({"a": {"b": None, "c": 2}}, {"a": {"c": 2}}, ["a.b"]),
        ({"a": [{"b": None}], "d": 1}, {"d": 1}, ["a"]),
        ({"a": [{"b": None}, {"c": 1, "d": None}]}, {"a": [{}, {"c": 1}]},
         ["a[0].b", "a[1].d"]),
        # written empty, or empty text: kept as written
        ({"a": [], "b": {}, "c": ""}, {"a": [], "b": {}, "c": ""}, []),
        # a null inside a list is kept: removing it would move the items after it
        ({"a": [None, 1]}, {"a": [None, 1]}, []),
        ([None], [None], []),
        ({"taskDefinition": {"ulimits": None, "cpu": "256"}},
         {"taskDefinition": {"cpu": "256"}}, ["taskDefinition.ulimits"]),
    ],
)
def test_drop_nulls(data: Any, cleaned: Any, dropped: list[str]) -> None:
    assert drop_nulls(data) == (cleaned, dropped)


def _container(**extra: Any) -> dict[str, Any]:
    """A container as the console's JSON tab exports it: every unset field null."""
    return {
        "name": "web", "image": "web:placeholder", "essential": True,
        "cpu": 0, "memory": None, "memoryReservation": None, "links": None,
        "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp",
                          "name": None, "appProtocol": None, "containerPortRange": None}],
        "environment": [{"name": "LOG_LEVEL", "value": "warning"}],
        "environmentFiles": None, "mountPoints": [], "volumesFrom": [],
        "secrets": None, "dnsServers": None, "dnsSearchDomains": None, "extraHosts": None,
        "dockerSecurityOptions": None, "dockerLabels": None, "ulimits": None,
        "linuxParameters": None, "healthCheck": None, "systemControls": None,
        "resourceRequirements": None, "firelensConfiguration": None,
        "repositoryCredentials": None, "command": None, "entryPoint": None,
        "workingDirectory": None, "user": None, "startTimeout": None, "stopTimeout": None,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/${env}-web", "awslogs-region": "${region}"},
            "secretOptions": None,
        },
        **extra,
    }


CONSOLE = {
    "family": "${env}-web", "taskRoleArn": None, "executionRoleArn": None,
    "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
    "cpu": "256", "memory": "512", "runtimePlatform": None, "placementConstraints": None,
    "volumes": None, "proxyConfiguration": None, "ephemeralStorage": None,
    "containerDefinitions": [_container()],
}
DESCRIBED = {
    "taskDefinition": {
        **CONSOLE,
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/dev-web:3",
        "revision": 3, "status": "ACTIVE", "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs",
                                "targetId": None, "targetType": None, "value": None}],
        "registeredAt": "2024-03-14T09:12:45.123000+00:00", "deregisteredAt": None,
    },
    "tags": [{"key": "team", "value": "web"}],
}
# What Terraform's jsonencode() of a module with optional container attributes writes
# (cloudposse/ecs-container-definition, for one): camelCase fields, unset ones null.
TERRAFORM_JSONENCODE = {
    "family": "${env}-web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
    "cpu": "256", "memory": "512",
    "containerDefinitions": [_container(mountPoints=None, volumesFrom=None,
                                        environment=None)],
}


def _repo(tmp_path: Path, template: Any) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(BASE, root)
    (root / "services/web/task.json").write_text(json.dumps(template, indent=2))
    return root


def _no_nulls(node: Any) -> bool:
    if isinstance(node, dict):
        return all(v is not None and _no_nulls(v) for v in node.values())
    if isinstance(node, list):
        return all(_no_nulls(v) for v in node)
    return True


@pytest.mark.parametrize("template", [CONSOLE, DESCRIBED, TERRAFORM_JSONENCODE],
                         ids=["console", "describe-task-definition", "terraform-jsonencode"])
def test_exports_full_of_nulls_validate_and_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: dict[str, Any],
) -> None:
    root = _repo(tmp_path, template)
    config = load_config(root)
    notices = list(config.notices)
    assert len(notices) == 1, notices  # one line per template
    assert notices[0].startswith("NOTICE services/web/task.json: null fields dropped")
    assert "containerDefinitions[0].links" in notices[0]
    assert notices[0].endswith(" more")  # long lists are cut at 20 names
    assert "logConfiguration.options" not in notices[0]
    env = config.environments["dev"]
    assert rendering.check_rendered(config, env, "web") == []
    rendered, _ = rendering.render_for(config, env, "web", "registry.invalid/web:1")
    assert _no_nulls(rendered)
    container = rendered["containerDefinitions"][0]
    assert "ulimits" not in container
    assert "secretOptions" not in container["logConfiguration"]
    assert container["portMappings"] == [{"containerPort": 80, "hostPort": 80,
                                          "protocol": "tcp"}]


def test_template_without_nulls_has_no_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = load_config(_repo(tmp_path, json.loads((BASE / "services/web/task.json").read_text())))
    assert config.notices == ()


def test_validate_prints_the_notice_on_stderr_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from release.cli import main

    assert main(["validate", "--root", str(_repo(tmp_path, CONSOLE))], environ={}) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("NOTICE ")]
    assert len(lines) == 1
    assert "null fields dropped" in lines[0]
    assert "NOTICE" not in captured.out


def test_null_container_list_is_still_reported(tmp_path: Path) -> None:
    root = _repo(tmp_path, {**CONSOLE, "containerDefinitions": [{"name": None}]})
    with pytest.raises(ConfigError) as exc:
        load_config(root)
    assert [p.message for p in exc.value.problems] == [
        "missing or empty 'containerDefinitions'"]


def test_terraform_state_is_refused_with_a_hint(tmp_path: Path) -> None:
    state = {"format_version": "1.0", "values": {"root_module": {"resources": [{
        "type": "aws_ecs_task_definition",
        "values": {"family": "web", "container_definitions": json.dumps(
            [_container()])}}]}}}
    with pytest.raises(ConfigError) as exc:
        load_config(_repo(tmp_path, state))
    (problem,) = exc.value.problems
    assert problem.message == "missing or empty 'containerDefinitions'"
    assert "Terraform" in (problem.hint or "")
