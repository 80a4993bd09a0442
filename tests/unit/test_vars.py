"""Environment vars: ${name} in templates and state machine definitions, per environment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from badcorpus import BASE

from release.config import load_config
from release.config.template import is_var, var_uses
from release.engine import rendering
from release.errors import ConfigError, Problem


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("domain", True), ("LOG_LEVEL", True), ("_x", True), ("a1", True),
        ("1a", False), ("a-b", False), ("", False), ("a b", False), ("é", False),
        # built-ins come from the environment, never from vars:
        ("env", False), ("service", False), ("region", False), ("account_id", False),
        ("function_arn", False),
    ],
)
def test_is_var(name: str, expected: bool) -> None:
    assert is_var(name) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": "${env}-${domain}"}, {"domain": ("a",)}),
        ({"a": ["x", "${b}", "${b}"], "c": {"d": "${e}"}}, {"b": ("a", 1), "e": ("c", "d")}),
        ({"a": "${a-b} ${} $domain {domain}"}, {}),
        ({"${key}": "keys are not substituted"}, {}),
        ([1, None, True], {}),
    ],
)
def test_var_uses(data: Any, expected: dict[str, tuple[str | int, ...]]) -> None:
    assert var_uses(data) == expected


def _repo(tmp_path: Path, envs: dict[str, str], value: str = "${domain}") -> Path:
    """The base repository whose template uses ``value``; ``envs``: name -> vars block."""
    root = tmp_path / "repo"
    shutil.copytree(BASE, root)
    task = json.loads((root / "services/web/task.json").read_text())
    task["containerDefinitions"][0]["environment"][0] = {"name": "SITE", "value": value}
    (root / "services/web/task.json").write_text(json.dumps(task, indent=2))
    base = (root / "environments/dev.yaml").read_text()
    (root / "environments/dev.yaml").unlink()
    for name, block in envs.items():
        (root / f"environments/{name}.yaml").write_text(
            base.replace("name: dev", f"name: {name}") + block)
    return root


def _problems(root: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as exc:
        load_config(root)
    return list(exc.value.problems)


def test_vars_render_per_environment(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"dev": "vars:\n  domain: dev.example.com\n",
                            "prod": "vars:\n  domain: example.com\n"},
                 value="https://${domain}/${env}")
    config = load_config(root)
    for env, domain in (("dev", "dev.example.com"), ("prod", "example.com")):
        assert config.environments[env].vars == {"domain": domain}
        rendered, _ = rendering.render_for(config, config.environments[env], "web", "img:1")
        assert {"name": "SITE", "value": f"https://{domain}/{env}"} in \
            rendered["containerDefinitions"][0]["environment"]
        assert rendering.check_rendered(config, config.environments[env], "web") == []
    values = rendering.placeholders(config.environments["prod"], "web")
    assert (values["domain"], values["env"]) == ("example.com", "prod")


@pytest.mark.parametrize(
    ("envs", "expected"),
    [
        # defined in prod only: dev is told, at services.web (it has no vars: block)
        ({"dev": "", "prod": "vars:\n  domain: x\n"},
         [("environments/dev.yaml", "services.web", "which dev does not define")]),
        # ... or at vars, when it has one
        ({"dev": "vars:\n  other: y\n", "prod": "vars:\n  domain: x\n"},
         [("environments/dev.yaml", "vars", "which dev does not define")]),
        # defined nowhere: a typo, told once, in the template
        ({"dev": "", "prod": ""},
         [("services/web/task.json", "containerDefinitions[0].environment[0].value",
           "unknown placeholder '${domain}'")]),
    ],
)
def test_a_var_must_be_defined_in_every_environment(
    tmp_path: Path, envs: dict[str, str], expected: list[tuple[str, str, str]],
) -> None:
    problems = _problems(_repo(tmp_path, envs))
    assert [(p.file, p.field) for p in problems] == [(f, at) for f, at, _ in expected]
    for problem, (_, _, message) in zip(problems, expected, strict=True):
        assert message in problem.message
        assert 'domain: "..."' in (problem.hint or "")


def test_missing_var_hint_lists_what_the_environment_knows(tmp_path: Path) -> None:
    (problem,) = _problems(_repo(tmp_path, {"dev": "vars:\n  other: y\n",
                                            "prod": "vars:\n  domain: x\n"}))
    assert "${env}" in (problem.hint or "")
    assert "${other}" in (problem.hint or "")
    assert problem.line is not None


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("vars:\n  db_password: hunter2-correct-horse\n", "plaintext credential"),
        ("vars:\n  env: prod\n", "is not a valid name here"),
        ("vars:\n  domain: 3\n", "expected a string"),
        ('vars:\n  domain: "a\\nb"\n', "contains the control character"),
    ],
)
def test_bad_vars_are_located(tmp_path: Path, block: str, message: str) -> None:
    problems = _problems(_repo(tmp_path, {"dev": block}, value="plain"))
    assert [p.field.split(".")[0] for p in problems] == ["vars"]
    assert message in problems[0].message
    assert "hunter2" not in problems[0].render()


def test_unknown_placeholder_at_render_lists_builtins_and_vars(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"dev": "vars:\n  domain: x\n"}, value="${domain}")
    config = load_config(root)
    (root / "services/web/task.json").write_text(
        (root / "services/web/task.json").read_text().replace("${domain}", "${gone}"))
    with pytest.raises(ConfigError) as exc:
        rendering.render_for(config, config.environments["dev"], "web", "img:1")
    (problem,) = exc.value.problems
    assert "${gone}" in problem.message
    assert "${domain}" in (problem.hint or "")
    assert "${region}" in (problem.hint or "")
