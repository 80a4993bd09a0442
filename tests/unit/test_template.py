"""release.config.template: checks on a base task definition before rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from release.config.source import parse_source
from release.config.template import TEMPLATE_PLACEHOLDERS, check_placeholders, check_task_template


def problems_of(data: Any, container: str | None = None) -> list[tuple[str, str]]:
    source = parse_source(json.dumps(data, indent=2).encode(), "task.json")
    return [(p.field, p.message) for p in check_task_template(source, container)]


WEB = {"name": "web", "image": "x"}


@pytest.mark.parametrize(
    ("data", "container", "field", "message"),
    [
        ([WEB], None, "", "must be a JSON object"),
        ({"family": "x"}, None, "containerDefinitions", "missing or empty"),
        ({"containerDefinitions": []}, None, "containerDefinitions", "missing or empty"),
        ({"containerDefinitions": [WEB, {"name": "b"}]}, None, "containerDefinitions",
         "has 2 containers (web, b)"),
        ({"containerDefinitions": [WEB]}, "app", "containerDefinitions",
         "no container named 'app'"),
        ({"containerDefinitions": ["web"]}, None, "containerDefinitions[0]",
         "must be a JSON object"),
        ({"containerDefinitions": [{**WEB, "environment": {"A": "1"}}]}, None,
         "containerDefinitions[0].environment", "must be a list"),
        ({"containerDefinitions": [{**WEB, "environment": ["A=1"]}]}, None,
         "containerDefinitions[0].environment[0]", "name/value object"),
        ({"containerDefinitions": [{**WEB, "environment": [{"name": 1, "value": "x"}]}]}, None,
         "containerDefinitions[0].environment[0]", "with a string name"),
        ({"containerDefinitions": [{**WEB, "secrets": "arn"}]}, None,
         "containerDefinitions[0].secrets", "must be a list"),
        ({"containerDefinitions": [{**WEB, "logConfiguration": {"options": []}}]}, None,
         "containerDefinitions[0].logConfiguration", "'options' is an object"),
        ({"containerDefinitions": [{**WEB, "environment": [
            {"name": "DB_PASSWORD", "value": "x"}]}]}, None,
         "containerDefinitions[0].environment[0]", "plaintext credential"),
        ({"taskDefinition": {"containerDefinitions": [{**WEB, "environment": [
            {"name": "X", "value": "AKIAIOSFODNN7EXAMPLE"}]}]}}, None,
         "taskDefinition.containerDefinitions[0].environment[0]", "AWS access key id"),
    ],
)
def test_template_problems(
    data: Any, container: str | None, field: str, message: str
) -> None:
    found = problems_of(data, container)
    assert any(f == field and message in m for f, m in found), found


@pytest.mark.parametrize(
    ("data", "container"),
    [
        ({"containerDefinitions": [WEB]}, None),
        ({"containerDefinitions": [WEB, {"name": "b"}]}, "b"),
        ({"containerDefinitions": [{**WEB, "environment": [
            {"name": "MAX_TOKENS", "value": "4096"}], "secrets": [
            {"name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/k"}]}]}, None),
        ({"taskDefinition": {"containerDefinitions": [WEB]}, "tags": []}, None),
    ],
)
def test_good_templates_have_no_problems(data: Any, container: str | None) -> None:
    assert problems_of(data, container) == []


def test_placeholders() -> None:
    raw = b'{\n  "a": "${env}-${service}",\n  "b": ["${region}", "${enviroment}"],\n  "c": "${}"\n}'
    source = parse_source(raw, "t.json")
    found = check_placeholders(source, TEMPLATE_PLACEHOLDERS)
    assert [(p.line, p.field, p.message) for p in found] == [
        (3, "b[1]", "unknown placeholder '${enviroment}'"),
        (4, "c", "unknown placeholder '${}'"),
    ]
    assert all(p.hint and "${account_id}" in p.hint for p in found)
