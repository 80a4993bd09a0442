"""release.config.load: the per-service build settings of issue 14 (target, build_secrets,
tags, platforms, attestations, cache, builder): defaults resolved, cross-checks located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.config import Config, load_config
from release.config.model import BuildCache, BuildSecret
from release.errors import ConfigError, Problem

REPO = Path(__file__).resolve().parents[2]
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/hub-token-AbCdEf"
TASK = {"family": "web", "containerDefinitions": [{"name": "web", "image": "x"}]}


def _repo(root: Path, services: dict[str, Any], *, defaults: dict[str, Any] | None = None,
          task: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> Path:
    release = {"version": 1, "services": services, **({"defaults": defaults} if defaults else {})}
    (root / "release.yaml").write_text(yaml.safe_dump(release, sort_keys=False))
    (root / "environments").mkdir()
    env = {"name": "dev", "aws": {"region": "eu-west-1", "account_id": "123456789012",
                                  "role_arn": "arn:aws:iam::123456789012:role/release"},
           "registry": {"type": "ecr"}, "ecs": {"cluster": "dev"},
           "services": {name: {} for name in services}}
    (root / "environments" / "dev.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    for name in ("web", "fn"):
        (root / "services" / name).mkdir(parents=True)
        (root / "services" / name / "Dockerfile").write_text("FROM busybox\n")
    (root / "services" / "web" / "task.json").write_text(json.dumps(task or TASK))
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _web(**extra: Any) -> dict[str, Any]:
    return {"context": "services/web", "ecs": {"task_definition": "services/web/task.json"},
            **extra}


def _fn(**extra: Any) -> dict[str, Any]:
    return {"context": "services/fn", "lambda": {}, **extra}


def _problems(root: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return caught.value.problems


def test_a_service_without_build_settings_gets_the_defaults(tmp_path: Path) -> None:
    web = load_config(_repo(tmp_path, {"web": _web()})).services["web"]
    assert (web.target, web.build_secrets, web.tags, web.platforms, web.attestations,
            web.cache, web.builder) == (None, (), (), (), False, BuildCache(), None)
    assert web.image_platforms == ("linux/amd64",)
    assert web.cache == BuildCache(registry=True, gha=False)


def test_the_examples_set_no_build_settings_yet() -> None:
    config: Config = load_config(REPO)
    for service in config.services.values():
        assert service.platforms == ()
        assert service.image_platforms == (service.platform,)


def test_every_field_is_filled(tmp_path: Path) -> None:
    web = _web(target="runtime", platforms=["linux/arm64", "linux/amd64"], attestations=True,
               tags=["v3-${run_number}", "${env}-${short_sha}"], builder="shared-buildkit",
               cache={"gha": True},
               build_secrets={"pip-token": {"env": "PIP_INDEX_TOKEN"},
                              "netrc": {"file": "ci/netrc"}, "hub": {"aws_secret": ARN},
                              "model.key": {"ssm": "/ci/model-key"}})
    task = {**TASK, "runtimePlatform": {"cpuArchitecture": "ARM64"}}
    service = load_config(_repo(tmp_path, {"web": web}, task=task,
                                files={"ci/netrc": "machine x"})).services["web"]
    assert service.target == "runtime"
    assert service.platform == "linux/arm64"  # the first one is the main platform
    assert service.platforms == ("linux/arm64", "linux/amd64")
    assert service.image_platforms == service.platforms
    assert service.attestations is True
    assert service.tags == ("v3-${run_number}", "${env}-${short_sha}")
    assert service.builder == "shared-buildkit"
    assert service.cache == BuildCache(registry=True, gha=True)
    assert service.build_secrets == (
        BuildSecret("pip-token", env="PIP_INDEX_TOKEN"), BuildSecret("netrc", file="ci/netrc"),
        BuildSecret("hub", aws_secret=ARN), BuildSecret("model.key", ssm="/ci/model-key"))


def test_defaults_and_what_a_service_overrides(tmp_path: Path) -> None:
    defaults = {"platforms": ["linux/amd64", "linux/arm64"], "builder": "remote",
                "cache": {"registry": False, "gha": True}}
    services = {"web": _web(cache={"registry": True}),
                "fn": _fn(platform="linux/arm64", builder="local-one")}
    task = {**TASK, "runtimePlatform": {"cpuArchitecture": "X86_64"}}
    config = load_config(_repo(tmp_path, services, defaults=defaults, task=task))
    web, fn = config.services["web"], config.services["fn"]
    assert web.platforms == ("linux/amd64", "linux/arm64")
    assert web.builder == "remote"
    assert web.cache == BuildCache(registry=True, gha=True)  # merged field by field
    # The service's own platform wins over the defaults' platforms: one platform for Lambda.
    assert (fn.platform, fn.platforms, fn.image_platforms) == (
        "linux/arm64", (), ("linux/arm64",))
    assert fn.builder == "local-one"
    assert fn.cache == BuildCache(registry=False, gha=True)


def test_one_platform_in_platforms_is_that_platform(tmp_path: Path) -> None:
    fn = load_config(_repo(tmp_path, {"fn": _fn(platforms=["linux/arm64"])})).services["fn"]
    assert (fn.platform, fn.platforms) == ("linux/arm64", ())


@pytest.mark.parametrize(("arch", "platforms", "ok"), [
    (None, ["linux/amd64"], True),
    (None, ["linux/arm64"], False),  # ECS runs a template without runtimePlatform on X86_64
    ("X86_64", ["linux/amd64", "linux/arm64"], True),
    ("ARM64", ["linux/amd64", "linux/arm64"], True),
    ("ARM64", ["linux/amd64"], False),
    ("X86_64", ["linux/arm64"], False),
])
def test_the_task_definition_architecture_is_built(tmp_path: Path, arch: str | None,
                                                   platforms: list[str], ok: bool) -> None:
    task = {**TASK, "runtimePlatform": {"cpuArchitecture": arch}} if arch else TASK
    root = _repo(tmp_path, {"web": _web(platforms=platforms)}, task=task)
    if ok:
        load_config(root)
        return
    [problem] = _problems(root)
    assert (problem.file, problem.field) == ("release.yaml", "services.web.platforms")
    assert problem.line is not None
    assert "but the image is built for" in problem.message
    assert problem.hint is not None
    assert "platforms" in problem.hint


def test_a_missing_secret_file_is_left_to_the_build(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"web": _web(build_secrets={"n": {"file": "ci/netrc"}})})
    assert load_config(root).services["web"].build_secrets == (BuildSecret("n", file="ci/netrc"),)


@pytest.mark.parametrize(("ignore_file", "patterns", "ok"), [
    (None, "", False),
    ("services/web/.dockerignore", "netrc\n", True),
    ("services/web/.dockerignore", "*\n!netrc\n", False),
    ("services/web/.dockerignore", "**/net*\n", True),
    ("services/web/Dockerfile.dockerignore", "netrc\n", True),
    # The Dockerfile's own ignore file wins over the context's.
    ("services/web/Dockerfile.dockerignore", "other\n", False),
])
def test_a_secret_file_in_the_context_must_be_ignored(tmp_path: Path, ignore_file: str | None,
                                                      patterns: str, ok: bool) -> None:
    files = {"services/web/netrc": "machine x"}
    if ignore_file:
        files[ignore_file] = patterns
    if ignore_file and ignore_file.endswith("Dockerfile.dockerignore"):
        files["services/web/.dockerignore"] = "netrc\n"
    root = _repo(tmp_path, {"web": _web(build_secrets={"n": {"file": "services/web/netrc"}})},
                 files=files)
    if ok:
        load_config(root)
        return
    [problem] = _problems(root)
    assert problem.field == "services.web.build_secrets.n.file"
    assert "is inside the build context" in problem.message
    assert problem.hint is not None
    assert ".dockerignore" in problem.hint


def test_a_root_context_holds_every_file(tmp_path: Path) -> None:
    web = _web(context=".", dockerfile="services/web/Dockerfile",
               build_secrets={"n": {"file": "ci/netrc"}})
    root = _repo(tmp_path, {"web": web}, files={"ci/netrc": "x"})
    [problem] = _problems(root)
    assert "inside the build context '.'" in problem.message
    (root / ".dockerignore").write_text("ci/\n")
    load_config(root)


@pytest.mark.parametrize(("services", "field", "message"), [
    ({"fn": _fn(platforms=["linux/amd64", "linux/arm64"])}, "services.fn.platforms",
     "a lambda target takes one platform"),
    ({"fn": _fn(attestations=True)}, "services.fn.attestations",
     "a lambda target cannot take attestations"),
    ({"web": _web(platform="linux/amd64", platforms=["linux/amd64"])}, "services.web.platforms",
     "set platform or platforms, not both"),
    ({"web": _web(tags=["v-${branch}"])}, "services.web.tags[0]",
     "unknown placeholder '${branch}'"),
    ({"web": _web(build_secrets={"t": {"env": "A", "ssm": "/x"}})},
     "services.web.build_secrets.t", "names 2 sources (env, ssm)"),
    ({"web": _web(build_secrets={"t": {"env": "AWS_ACCESS_KEY_ID"}})},
     "services.web.build_secrets.t.env", "the release's own credentials"),
    ({"web": _web(build_secrets={"t": {"aws_secret": ARN.replace("123456789012",
                                                                 "210987654321")}})},
     "services.web.build_secrets.t.aws_secret", "is in account 210987654321"),
], ids=["lambda-platforms", "lambda-attestations", "platform-and-platforms",
        "tag-placeholder", "two-sources", "release-credentials", "other-account"])
def test_refused_settings_are_located_with_a_hint(tmp_path: Path, services: dict[str, Any],
                                                  field: str, message: str) -> None:
    problems = [p for p in _problems(_repo(tmp_path, services)) if p.field == field]
    assert problems, f"nothing reported at {field}"
    assert message in problems[0].message
    assert problems[0].file == "release.yaml"
    assert problems[0].line is not None
    assert problems[0].hint


def test_an_azure_app_needs_an_amd64_image(tmp_path: Path) -> None:
    app = {"context": "services/fn", "azure_container_app": {}}
    # (The test environment has no Azure app for it: only the platform problem counts.)
    root = _repo(tmp_path, {"fn": {**app, "platforms": ["linux/arm64", "linux/amd64"]}})
    assert not [p for p in _problems(root) if "amd64" in p.message]
    (root / "release.yaml").write_text(yaml.safe_dump(
        {"version": 1, "services": {"fn": {**app, "platform": "linux/arm64"}}}))
    problems = [p for p in _problems(root) if p.field == "services.fn.platform"]
    assert "runs linux/amd64 images only" in problems[0].message
    assert problems[0].hint


def test_lambda_inheriting_several_platforms_is_told_to_set_its_own(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"fn": _fn()},
                 defaults={"platforms": ["linux/amd64", "linux/arm64"]})
    [problem] = _problems(root)
    assert problem.field == "services.fn"
    assert "defaults.platforms names 2" in problem.message
    assert problem.hint is not None
    assert "set platform:" in problem.hint
