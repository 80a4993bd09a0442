"""release.config.load: defaults filled in, paths resolved, environments chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from badcorpus import BASE

from release.config import Config, load_config
from release.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def examples() -> Config:
    return load_config(REPO)


def test_base_defaults() -> None:
    config = load_config(BASE)
    web = config.services["web"]
    assert web.dockerfile == "services/web/Dockerfile"
    assert web.repository == "web"
    assert web.platform == "linux/amd64"
    assert web.targets == ("ecs",)
    dev = config.environments["dev"]
    assert dev.registry.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    ecs = dev.deployments["web"].ecs
    assert ecs is not None
    assert (ecs.cluster, ecs.service, ecs.family) == ("dev", "web", "dev-web")
    assert ecs.deadline_seconds == 900
    assert dict(ecs.environment) == {"LOG_LEVEL": "info"}


@pytest.mark.parametrize(
    ("service", "attribute", "expected"),
    [
        ("predictions-api", "context", "."),
        ("predictions-api", "dockerfile", "services/predictions-api/Dockerfile"),
        ("autovision", "dockerfile", "services/autovision/Dockerfile"),
        ("coral-frontend", "repository", "coral/frontend"),
        ("coral-restoration", "watch", ("libs/coral-common",)),
        ("autovision", "build_args", {"BASE_IMAGE": "release-base/busybox:1"}),
        ("quetzal", "targets", ("lambda", "step_functions", "s3_files")),
        ("batch-detector", "targets", ("azure_container_app",)),
    ],
)
def test_example_services(
    examples: Config, service: str, attribute: str, expected: object
) -> None:
    value = getattr(examples.services[service], attribute)
    assert (dict(value) if attribute == "build_args" else value) == expected


def test_example_environment_defaults(examples: Config) -> None:
    local = examples.environments["local"]
    assert local.registry.host == "127.0.0.1:5001"
    lam = local.deployments["coral-restoration"].lambda_
    assert lam is not None
    assert (lam.function, lam.alias) == ("local-coral-restoration", "live")
    sfn = local.deployments["quetzal"].step_functions
    assert sfn is not None
    assert sfn.state_machine == "local-quetzal"
    s3 = examples.environments["quetzal-model-b"].deployments["quetzal"].s3
    assert s3 is not None
    assert s3.bucket == "acme-quetzal-model-b"
    detector = local.deployments["batch-detector"]  # on the local cloud's Azure
    assert detector.registry is not None
    assert (detector.registry.type, detector.registry.host) == ("acr", "127.0.0.1:5004")
    assert local.azure is not None
    assert local.azure.management_url == "https://127.0.0.1:5003"


def test_only_the_named_environments_are_loaded() -> None:
    config = load_config(REPO, ("dev",))
    assert list(config.environments) == ["dev"]


def test_unknown_environment_suggests_the_close_one() -> None:
    with pytest.raises(UsageError) as caught:
        load_config(REPO, ("prd",))
    assert caught.value.hint == "did you mean 'prod'?"


@pytest.mark.parametrize("name", ["release.schema.json", "environment.schema.json"])
def test_shipped_schemas_are_valid_json_schema_2020_12(name: str) -> None:
    from jsonschema import Draft202012Validator

    from release.config.schema import load_schema

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(name)
    assert schema["title"]
    assert schema["description"]
    assert schema["examples"]


def test_outside_a_repository_the_missing_release_yaml_is_named(tmp_path: Path) -> None:
    from release.config import load_config
    from release.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, ("local",))
    [problem] = caught.value.problems
    assert problem.file == "release.yaml"
    assert problem.message == "file not found"
    assert "create release.yaml" in (problem.hint or "")
