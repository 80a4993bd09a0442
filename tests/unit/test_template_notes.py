"""Template warnings: the default family replacing the template's own, ARNs of another
account; and a problem every environment's rendering shares, reported once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from badcorpus import BASE

from release.cli import main
from release.config import load_config
from release.engine import template_notes


def repo(tmp_path: Path, template: dict[str, Any], *, family: str | None = None) -> Path:
    """The bad corpus's base with ``template``, and a prod environment beside dev."""
    root = tmp_path / "repo"
    shutil.copytree(BASE, root)
    (root / "services/web/task.json").write_text(json.dumps(template, indent=2))
    dev = (root / "environments/dev.yaml").read_text()
    prod = dev.replace("name: dev", "name: prod").replace("cluster: dev", "cluster: prod")
    if family:
        prod = prod.replace("    ecs:\n", f"    ecs:\n      family: {family}\n", 1)
    (root / "environments/prod.yaml").write_text(prod)
    return root


def template(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = json.loads((BASE / "services/web/task.json").read_text())
    base.update(changes)
    return base


@pytest.mark.parametrize(("changes", "family", "expected"), [
    ({}, None, []),
    ({"family": "orders-web"}, None, [
        "warning: services/web/task.json: the template's family 'orders-web' is replaced by "
        "the default dev-web, a new family beside the running one; set services.web.ecs.family "
        "in environments/dev.yaml to keep deploying 'orders-web' (in dev)",
        "warning: services/web/task.json: the template's family 'orders-web' is replaced by "
        "the default prod-web, a new family beside the running one; set services.web.ecs.family"
        " in environments/prod.yaml to keep deploying 'orders-web' (in prod)"]),
    ({"family": "orders-web"}, "orders-web", [
        "warning: services/web/task.json: the template's family 'orders-web' is replaced by "
        "the default dev-web, a new family beside the running one; set services.web.ecs.family "
        "in environments/dev.yaml to keep deploying 'orders-web' (in dev)"]),
])
def test_family_notes(tmp_path: Path, changes: dict[str, Any], family: str | None,
                      expected: list[str]) -> None:
    config = load_config(repo(tmp_path, template(**changes), family=family))
    assert template_notes.notes(config) == expected


def test_an_arn_of_another_account_is_said_once_for_every_environment(tmp_path: Path) -> None:
    body = template()
    body["containerDefinitions"][0]["secrets"] = [
        {"name": "TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:999999999999:parameter/t"}]
    config = load_config(repo(tmp_path, body))
    assert template_notes.notes(config) == [
        "warning: services/web/task.json: containerDefinitions[0].secrets[0].valueFrom names "
        "account 999999999999, not the environment's 123456789012: write ${account_id} there "
        "(or list the account under aws.role_accounts when it is meant) (in dev, prod)"]


def test_a_problem_of_every_rendering_is_reported_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = template()
    body["containerDefinitions"][0]["portMappings"] = [{"containerPort": "eighty"}]
    assert main(["validate", "--root", str(repo(tmp_path, body))], environ={}) == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("ERROR services/")]
    assert len(errors) == 1, errors
    assert errors[0].endswith("(rendered for dev, prod)")


def test_render_of_a_lambda_service_says_what_it_deploys_to(
        capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[2]
    code = main(["render", "--env", "local", "coral-reframing", "--root", str(examples)],
                environ={})
    err = capsys.readouterr().err
    assert code == 2
    assert "'coral-reframing' deploys to lambda in local, not to ECS" in err
    assert "did you mean" not in err
