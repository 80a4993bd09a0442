"""A service's own registry (``services.<name>.registry``): same shape and rules as the
environment's, used by deploy for that service's login, lookup, push and image reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from release.adapters.registry import Login
from release.config import load_config
from release.config.model import Registry
from release.engine import images
from release.engine.context import Context
from release.engine.plan import ServicePlan
from release.errors import ConfigError, ReleaseError
from release.planning import plan

REPO = Path(__file__).resolve().parents[2]
AWS = {"region": "eu-west-1", "account_id": "123456789012",
       "role_arn": "arn:aws:iam::123456789012:role/release-dev"}
AZURE = {"tenant_id": "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21",
         "client_id": "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58",
         "subscription_id": "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24"}
ECR = Registry("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def _repo(tmp_path: Path, env: dict[str, Any]) -> Path:
    for name in ("batch", "worker"):
        (tmp_path / "services" / name).mkdir(parents=True)
        (tmp_path / "services" / name / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "release.yaml").write_text(yaml.safe_dump({"version": 1, "services": {
        "batch-detector": {"context": "services/batch", "azure_container_app": {}},
        "worker": {"context": "services/worker", "lambda": {}}}}))
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "dev.yaml").write_text(yaml.safe_dump({"name": "dev", **env}))
    return tmp_path


def _env(registry: dict[str, Any] | None, *, azure: bool = True) -> dict[str, Any]:
    batch: dict[str, Any] = {"azure_container_app": {"name": "dev-batch",
                                                     "resource_group": "rg-batch"}}
    if registry is not None:
        batch["registry"] = registry
    return {"aws": AWS, **({"azure": AZURE} if azure else {}), "registry": {"type": "ecr"},
            "services": {"batch-detector": batch, "worker": {}}}


@pytest.mark.parametrize(("registry", "azure", "expected"), [
    pytest.param(None, True, None, id="no override: the environment's registry"),
    pytest.param({"type": "acr", "host": "acmebatchdev.azurecr.io"}, True,
                 Registry("acr", "acmebatchdev.azurecr.io"), id="acr with the azure block"),
    pytest.param({"type": "oci", "host": "127.0.0.1:5001"}, True,
                 Registry("oci", "127.0.0.1:5001"), id="oci with a port"),
    pytest.param({"type": "ecr"}, True, ECR, id="ecr host derived from the aws block"),
])
def test_valid_overrides(tmp_path: Path, registry: dict[str, Any] | None, azure: bool,
                         expected: Registry | None) -> None:
    env = load_config(_repo(tmp_path, _env(registry, azure=azure))).environments["dev"]
    batch, worker = env.deployments["batch-detector"], env.deployments["worker"]
    assert batch.registry == expected
    assert env.registry_of(batch) == (expected or ECR)
    assert worker.registry is None
    assert env.registry_of(worker) == ECR


@pytest.mark.parametrize(("registry", "azure", "field", "message"), [
    pytest.param({"type": "acr", "host": "acmebatchdev.azurecr.io"}, False,
                 "services.batch-detector.registry.type",
                 "an acr registry needs the azure block", id="acr without the azure block"),
    pytest.param({"type": "gcr", "host": "gcr.io"}, True,
                 "services.batch-detector.registry.type", "'gcr' is not allowed",
                 id="unknown type"),
    pytest.param({"type": "acr"}, True, "services.batch-detector.registry",
                 "missing required field 'host'", id="acr without a host"),
    pytest.param({"type": "oci", "host": "x.io", "user": "me"}, True,
                 "services.batch-detector.registry.user", "unknown field 'user'",
                 id="unknown field"),
])
def test_invalid_overrides(tmp_path: Path, registry: dict[str, Any], azure: bool, field: str,
                           message: str) -> None:
    root = _repo(tmp_path, _env(registry, azure=azure))
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    problems = [p for p in caught.value.problems if p.field.startswith(field)]
    assert problems, caught.value.problems
    assert any(message in p.message for p in problems), problems


def test_the_examples_push_batch_detector_to_acr_and_the_rest_to_ecr() -> None:
    config = load_config(REPO, ("dev", "prod"))
    for name, host in (("dev", "acmebatchdev.azurecr.io"), ("prod", "acmebatchprod.azurecr.io")):
        env = config.environments[name]
        assert env.registry_of(env.deployments["batch-detector"]) == Registry("acr", host)
        assert env.registry_of(env.deployments["autovision"]).type == "ecr"


def test_deploy_logs_in_once_per_distinct_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_config(_repo(tmp_path, _env({"type": "acr", "host": "acmebatchdev.azurecr.io"})
                            )).environments["dev"]
    config = load_config(tmp_path)
    seen: list[Registry] = []

    def login(_ctx: Context, reg: Registry) -> Login:
        seen.append(reg)
        return Login(reg.host, "u", "p")

    ctx = Context(config, env, None, "c" * 40)
    chosen = [*env.deployments.values(), *env.deployments.values()]
    logins = images.logins(ctx, chosen, login)
    assert seen == [Registry("acr", "acmebatchdev.azurecr.io"), ECR]
    assert set(logins) == set(seen)


def test_the_image_reference_names_the_services_registry(tmp_path: Path) -> None:
    env = load_config(_repo(tmp_path, _env({"type": "acr", "host": "acmebatchdev.azurecr.io"})
                            )).environments["dev"]
    digest = "sha256:" + "b" * 64
    svc = ServicePlan(env.deployments["batch-detector"],
                      plan.ImageStep("batch-detector", "batch-detector", "k", digest))
    assert svc.wanted(env).image == f"acmebatchdev.azurecr.io/batch-detector@{digest}"


@pytest.mark.parametrize(("desired", "running", "action"), [
    (None, "x@sha256:1", "deploy"),
    ("r/b@sha256:1", "r/b@sha256:1", "none"),
    ("r/b@sha256:1", "r/b@sha256:0", "deploy"),
    ("r/b@sha256:1", None, "deploy"),
])
def test_container_app_step(desired: str | None, running: str | None, action: str) -> None:
    assert plan.container_app_step("b", desired, running).action == action


def test_a_registry_refusing_the_login_fails_only_its_own_services(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_config(_repo(tmp_path, _env({"type": "acr", "host": "acmebatchdev.azurecr.io"})
                            )).environments["dev"]
    config = load_config(tmp_path)

    def login(_ctx: Context, reg: Registry) -> Login:
        if reg.type == "acr":
            raise ReleaseError("ACR refused the token exchange", "grant AcrPush to the identity")
        return Login(reg.host, "u", "p")

    ctx = Context(config, env, None, "c" * 40)
    logins = images.logins(ctx, list(env.deployments.values()), login)
    assert images.login_for(logins, ECR) == Login(ECR.host, "u", "p")
    acr = Registry("acr", "acmebatchdev.azurecr.io")
    with pytest.raises(ReleaseError) as caught:
        images.login_for(logins, acr)
    assert caught.value.message == "ACR refused the token exchange"
    assert caught.value.hint == "grant AcrPush to the identity"


def test_when_every_registry_refuses_the_login_that_is_the_runs_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_config(_repo(tmp_path, _env({"type": "acr", "host": "acmebatchdev.azurecr.io"})
                            )).environments["dev"]
    config = load_config(tmp_path)

    def login(_ctx: Context, reg: Registry) -> Login:
        raise ReleaseError(f"cannot reach {reg.host}", "start the cloud")

    ctx = Context(config, env, None, "c" * 40)
    with pytest.raises(ReleaseError) as caught:
        images.logins(ctx, list(env.deployments.values()), login)
    assert caught.value.message.startswith("cannot reach ")
    assert caught.value.hint == "start the cloud"

