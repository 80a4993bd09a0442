"""Property: whatever the files hold, validate answers 0 or 2 and never crashes.

hypothesis-jsonschema's ``from_schema`` takes about a minute for 50 examples of
release.schema.json here, so these strategies are written by hand: each field is
drawn from valid values, near misses (typos, wrong types, missing files) and junk.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from badcorpus import BASE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.cli import main
from release.config.source import Source, SourceError, parse_source
from release.errors import Problem

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["", "yes", "on", "0123", "1e3", "~", "${env}", "${nope}", "::"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=5,
)


def sometimes(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid``, sometimes junk."""
    return st.one_of(valid, valid, valid, junk)


def maybe_dict(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A mapping with required and optional keys, now and then an extra unknown key."""
    base = st.fixed_dictionaries(
        {k: sometimes(v) for k, v in required.items()},
        optional={k: sometimes(v) for k, v in optional.items()},
    )
    extra = st.dictionaries(st.sampled_from(["contex", "regoin", "task_defintion", "x"]),
                            junk, max_size=1)
    return st.builds(lambda a, b: {**a, **b}, base, st.one_of(st.just({}), st.just({}), extra))


SERVICE_NAMES = st.sampled_from(["web", "worker", "Web", "wbe", "a" * 70])
PATHS = st.sampled_from(["services/web", "services/web/Dockerfile", "services/web/task.json",
                         "services/web/two.json", "services/web/machine.json", ".", "missing",
                         "../web", "/abs", "services/web/"])
TEMPLATES = st.sampled_from(["services/web/task.json", "services/web/two.json",
                             "services/web/fuzz.json", "missing.json", "services/web"])
ENV_VALUE = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(
    allow_nan=False), st.sampled_from(["AKIAIOSFODNN7EXAMPLE", "-----BEGIN PRIVATE KEY-----"]))
ENV_NAMES = st.one_of(st.sampled_from(["LOG_LEVEL", "DB_PASSWORD", "API_KEY", "MAX_TOKENS",
                                       "AWS_ACCESS_KEY_ID", "TOKENIZER_PATH", "1BAD"]),
                      st.text(max_size=10))
ARNS = st.one_of(st.sampled_from([
    "arn:aws:iam::123456789012:role/x", "arn:aws:iam::12345:role/x", "role/x",
    "arn:aws:ssm:eu-west-1:123456789012:parameter/dev/x",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", ""]), st.text(max_size=10))

service = maybe_dict(
    {"context": PATHS},
    {
        "dockerfile": PATHS,
        "watch": st.one_of(st.lists(PATHS, max_size=3), PATHS),
        "repository": st.sampled_from(["web", "coral/web", "Bad Repo"]),
        "platform": st.sampled_from(["linux/amd64", "linux/arm64", "linux/arm"]),
        "build_args": st.dictionaries(ENV_NAMES, ENV_VALUE, max_size=2),
        "ecs": maybe_dict({"task_definition": TEMPLATES},
                          {"container": st.sampled_from(["web", "sidecar", "app", ""])}),
        "lambda": st.one_of(st.just({}), st.booleans()),
        "step_functions": maybe_dict({"definition": PATHS}, {}),
        "s3_files": st.lists(maybe_dict({"source": PATHS, "key": st.just("models/${env}/")},
                                        {}), max_size=2),
        "azure_container_app": maybe_dict({}, {"container": st.just("app")}),
    },
)
release_doc = maybe_dict(
    {"version": st.sampled_from([1, 1, 1, 2, "1"]),
     "services": st.dictionaries(SERVICE_NAMES, service, max_size=3)},
    {"defaults": maybe_dict({}, {"watch": st.lists(PATHS, max_size=2),
                                 "platform": st.just("linux/amd64"),
                                 "build_args": st.dictionaries(ENV_NAMES, ENV_VALUE,
                                                               max_size=2)})},
)
ecs_values = maybe_dict({}, {
    "cluster": st.sampled_from(["dev", ""]), "service": st.just("web"),
    "family": st.sampled_from(["dev-web", "bad family"]),
    "cpu": st.sampled_from(["256", 256, "x"]), "memory": st.sampled_from(["512", 512]),
    "execution_role_arn": ARNS, "task_role_arn": ARNS,
    "environment": st.dictionaries(ENV_NAMES, ENV_VALUE, max_size=3),
    "secrets": st.dictionaries(ENV_NAMES, ARNS, max_size=2),
    "log_group": st.sampled_from(["/ecs/dev-web", "bad group!"]),
    "desired_count": st.integers(-2, 3), "deadline_seconds": st.integers(0, 10_000),
})
env_service = maybe_dict({}, {
    "ecs": ecs_values,
    "lambda": maybe_dict({}, {"function": st.just("dev-web"), "alias": st.just("live"),
                              "environment": st.dictionaries(ENV_NAMES, ENV_VALUE,
                                                             max_size=2)}),
    "step_functions": maybe_dict({}, {"state_machine": st.just("dev-web")}),
    "s3_files": maybe_dict({}, {"bucket": st.sampled_from(["acme-dev", "B"])}),
    "azure_container_app": maybe_dict({"name": st.just("dev-web"),
                                       "resource_group": st.just("rg")}, {}),
})
UUID = "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"
env_doc = maybe_dict(
    {"name": st.sampled_from(["dev", "dev", "prod", "Dev"]),
     "registry": maybe_dict({"type": st.sampled_from(["ecr", "acr", "oci", "gcr"])},
                            {"host": st.sampled_from(["registry.example.com", "bad host"])}),
     "services": st.dictionaries(SERVICE_NAMES, env_service, max_size=3)},
    {"aws": maybe_dict({"region": st.sampled_from(["eu-west-1", "europe"]),
                        "account_id": st.sampled_from(["123456789012", 123456789012]),
                        "role_arn": ARNS}, {}),
     "azure": maybe_dict({"tenant_id": st.just(UUID), "client_id": st.just(UUID),
                          "subscription_id": st.sampled_from([UUID, "nope"])}, {}),
     "ecs": maybe_dict({}, {"cluster": st.just("dev")}),
     "s3": maybe_dict({}, {"bucket": st.just("acme-dev")})},
)
container = maybe_dict(
    {"name": st.sampled_from(["web", "sidecar", 5]), "image": st.just("x")},
    {"environment": st.one_of(
        st.lists(maybe_dict({"name": ENV_NAMES, "value": ENV_VALUE}, {}), max_size=2),
        st.dictionaries(ENV_NAMES, ENV_VALUE, max_size=2)),
     "secrets": st.lists(maybe_dict({"name": ENV_NAMES, "valueFrom": ARNS}, {}), max_size=2),
     "portMappings": st.just([{"containerPort": 80}]),
     "portMapping": st.just([{"containerPort": 80}]),
     "logConfiguration": maybe_dict({"logDriver": st.sampled_from(["awslogs", "json-file"])},
                                    {"options": st.dictionaries(st.text(max_size=5),
                                                                st.text(max_size=5))})},
)
task_body = maybe_dict(
    {"containerDefinitions": st.lists(container, max_size=2)},
    {"family": st.just("${env}-web"), "cpu": st.sampled_from(["256", 256]),
     "networkMode": st.just("awsvpc"), "revision": st.just(3),
     "tags": st.lists(maybe_dict({"key": st.just("team"), "value": st.just("${service}")}, {}),
                      max_size=2)},
)
task_doc = st.one_of(task_body, task_body.map(lambda b: {"taskDefinition": b, "tags": []}))


def dump(data: Any) -> str:
    """YAML text for ``data`` (junk keys and values included)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def validate(files: dict[str, str | bytes]) -> tuple[int, str]:
    """Run ``release validate`` on the base repository with ``files`` replaced."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(BASE, root)
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, "utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", "--root", str(root)], environ={})
    return code, out.getvalue() + err.getvalue()


def assert_answered(code: int, text: str) -> None:
    assert code in (0, 2), text
    assert "Traceback" not in text
    assert "internal error" not in text
    if code == 2:
        assert "ERROR " in text


TWO_CONTAINERS = json.dumps({"containerDefinitions": [{"name": "web", "image": "x"},
                                                      {"name": "sidecar", "image": "y"}]})


@FUZZ
@given(release=release_doc, env=env_doc, template=task_doc)
def test_generated_configs_are_answered_not_crashed(
    release: Any, env: Any, template: Any
) -> None:
    code, text = validate({
        "release.yaml": dump(release),
        "environments/dev.yaml": dump(env),
        "services/web/fuzz.json": json.dumps(template),
        "services/web/two.json": TWO_CONTAINERS,
        "services/web/machine.json": '{"StartAt": "A", "States": {}}',
    })
    assert_answered(code, text)


@FUZZ
@given(template=task_doc, container=st.sampled_from([None, "web", "sidecar"]))
def test_generated_task_templates_are_answered_not_crashed(
    template: Any, container: str | None
) -> None:
    ecs = {"task_definition": "services/web/task.json"}
    if container:
        ecs["container"] = container
    release = {"version": 1, "services": {"web": {"context": "services/web", "ecs": ecs}}}
    code, text = validate({"release.yaml": dump(release),
                           "services/web/task.json": json.dumps(template)})
    assert_answered(code, text)


@FUZZ
@given(text=st.one_of(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\t\n ,?%@`")),
                                  max_size=80),
                     st.text(max_size=80)),
       which=st.sampled_from(["release.yaml", "environments/dev.yaml", "services/web/task.json"]))
def test_random_yaml_text_is_answered_not_crashed(text: str, which: str) -> None:
    code, out = validate({which: text})
    assert_answered(code, out)


def parsed(raw: bytes) -> Source | Problem:
    """What parse_source makes of ``raw``: a Source, or the problem of its SourceError."""
    try:
        return parse_source(raw, "f.yaml")
    except SourceError as exc:
        return exc.problem


@FUZZ
@given(raw=st.binary(max_size=200))
def test_parse_source_returns_or_raises_source_error_on_bytes(raw: bytes) -> None:
    result = parsed(raw)
    if isinstance(result, Problem):
        assert result.file == "f.yaml"
        assert result.message
    else:
        assert isinstance(result, Source)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab1:-[]{}&*!|>'\"#\t\n ,?")), max_size=60))
def test_parse_source_returns_or_raises_source_error_on_yamlish_text(text: str) -> None:
    result = parsed(text.encode())
    if isinstance(result, Problem):
        assert result.message
        assert result.line is None or 1 <= result.line <= text.count("\n") + 1
    else:
        for line in [*result.key_lines.values(), *result.value_lines.values()]:
            assert 1 <= line <= text.count("\n") + 1
