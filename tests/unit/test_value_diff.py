"""release.planning.diff: what a deploy would change, value by value, secrets masked."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.planning import diff
from release.planning.diff import Difference
from release.planning.taskdef import comparable

DIGEST = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "ab" * 32
NEW_DIGEST = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "cd" * 32
SSM = "arn:aws:ssm:eu-west-1:111111111111:parameter/dev/web/"


def described() -> dict[str, Any]:
    """A describe-task-definition output, as ECS returns it (read-only fields, defaults)."""
    return {"taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:111111111111:task-definition/dev-web:7",
        "revision": 7, "status": "ACTIVE", "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
        "registeredAt": "2024-03-14T09:12:45.123000+00:00",
        "family": "dev-web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512",
        "executionRoleArn": "arn:aws:iam::111111111111:role/dev-web-execution",
        "containerDefinitions": [{
            "name": "web", "image": DIGEST, "cpu": 0, "essential": True,
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "environment": [{"name": "LOG_LEVEL", "value": "info"},
                            {"name": "MODEL_PATH", "value": "s3://models/v1"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": SSM + "db-password"}],
            "mountPoints": [], "volumesFrom": [],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/dev-web", "awslogs-region": "eu-west-1",
                "awslogs-stream-prefix": "ecs"}},
        }],
    }, "tags": [{"key": "team", "value": "ml"}]}


TAGS = {"team": "ml", "release:source-commit": "0123abc"}
Edit = Callable[[dict[str, Any]], None]


def web(body: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in body["containerDefinitions"] if c["name"] == "web")


def env(body: dict[str, Any], name: str, value: str | None, key: str = "environment") -> None:
    """Set (or, with None, remove) an environment entry of the web container."""
    field = "value" if key == "environment" else "valueFrom"
    entries = [e for e in web(body).setdefault(key, []) if e["name"] != name]
    web(body)[key] = entries + ([{"name": name, field: value}] if value is not None else [])


def sidecar(body: dict[str, Any]) -> None:
    body["containerDefinitions"].append({
        "name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27",
        "essential": True, "environment": [{"name": "APPMESH_VIRTUAL_NODE_NAME", "value": "x"}]})


def pair(edit_current: Edit, edit_desired: Edit,
         tags: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    current, desired = described()["taskDefinition"], described()["taskDefinition"]
    edit_current(current)
    edit_desired(desired)
    return comparable(current, TAGS), comparable(desired, tags if tags is not None else TAGS)


def nothing(body: dict[str, Any]) -> None:
    return None


TASK_CASES: list[tuple[str, Edit, Edit, dict[str, str] | None, list[str]]] = [
    ("unchanged", nothing, nothing, None, []),
    ("ECS defaults and read-only fields are no change", nothing,
     lambda b: web(b).update(cpu=0, essential=True), None, []),
    ("memory", nothing, lambda b: b.update(memory="1024"), None, ["memory: 512 -> 1024"]),
    ("image", nothing, lambda b: web(b).update(image=NEW_DIGEST), None,
     [f"containerDefinitions[web].image: {DIGEST} -> {NEW_DIGEST}"]),
    ("env var added", nothing, lambda b: env(b, "FEATURE_X", "1"), None,
     ['containerDefinitions[web].environment.FEATURE_X: added ("1")']),
    ("env var changed", nothing, lambda b: env(b, "MODEL_PATH", "s3://models/v2"), None,
     ["containerDefinitions[web].environment.MODEL_PATH: s3://models/v1 -> s3://models/v2"]),
    ("env var removed", nothing, lambda b: env(b, "LOG_LEVEL", None), None,
     ["containerDefinitions[web].environment.LOG_LEVEL: removed"]),
    ("env order is no change", nothing,
     lambda b: web(b)["environment"].reverse(), None, []),
    ("first env var: by name, not the whole list",
     lambda b: web(b).pop("environment"), nothing, None,
     ['containerDefinitions[web].environment.LOG_LEVEL: added ("info")',
      'containerDefinitions[web].environment.MODEL_PATH: added ("s3://models/v1")']),
    ("secret valueFrom changed (an ARN is shown)", nothing,
     lambda b: env(b, "DB_PASSWORD", SSM + "db-password-v2", "secrets"), None,
     [f"containerDefinitions[web].secrets.DB_PASSWORD: {SSM}db-password -> "
      f"{SSM}db-password-v2"]),
    ("secret removed", nothing, lambda b: env(b, "DB_PASSWORD", None, "secrets"), None,
     ["containerDefinitions[web].secrets.DB_PASSWORD: removed"]),
    ("plaintext password masked, old and new",
     lambda b: env(b, "SMTP_PASSWORD", "hunter2hunter2"),
     lambda b: env(b, "SMTP_PASSWORD", "correct-horse-battery"), None,
     ["containerDefinitions[web].environment.SMTP_PASSWORD: (hidden, 14 chars) -> "
      "(hidden, 21 chars)"]),
    ("a credential by its shape, under a plain name", nothing,
     lambda b: env(b, "UPSTREAM", "https://admin:pa55w0rd@db.internal:5432/app"), None,
     ["containerDefinitions[web].environment.UPSTREAM: added ((hidden, 43 chars))"]),
    ("port mapping element", nothing,
     lambda b: web(b)["portMappings"][0].update(containerPort=8080, hostPort=8080), None,
     ["containerDefinitions[web].portMappings[0].containerPort: 80 -> 8080",
      "containerDefinitions[web].portMappings[0].hostPort: 80 -> 8080"]),
    ("port mapping added", nothing,
     lambda b: web(b)["portMappings"].append({"containerPort": 9090, "protocol": "tcp"}),
     None, ['containerDefinitions[web].portMappings[1]: added '
            '({"containerPort":9090,"protocol":"tcp"})']),
    ("tags by key (volatile ones ignored)", nothing, nothing,
     {"team": "search", "cost-centre": "42", "release:source-commit": "fff"},
     ['tags.cost-centre: added ("42")', "tags.team: ml -> search"]),
    ("container added, its secrets masked", nothing,
     lambda b: (sidecar(b), b["containerDefinitions"][1]["environment"].append(
         {"name": "ADMIN_TOKEN", "value": "s3cr3t-admin"})), None,
     ['containerDefinitions[envoy]: added ({"environment":{"ADMIN_TOKEN":"(hidden, 12 chars)",'
      '"APPMESH_VIRTUAL_NODE_NAME":"x"},"image":"public.ecr.aws/appmesh/aws-appmesh-envoy:'
      'v1.27","name":"envoy"})']),
    ("container removed", sidecar, nothing, None, ["containerDefinitions[envoy]: removed"]),
    ("two containers: matched by name, not position", sidecar,
     lambda b: (sidecar(b), b["containerDefinitions"].reverse(),
                b["containerDefinitions"][0].update(image="envoy:v1.28"),
                env(b, "LOG_LEVEL", "debug")), None,
     ["containerDefinitions[envoy].image: public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27 "
      "-> envoy:v1.28", "containerDefinitions[web].environment.LOG_LEVEL: info -> debug"]),
    ("control characters escaped", nothing,
     lambda b: env(b, "LOG_LEVEL", "info\n::error::forged\x1b[31m"), None,
     ["containerDefinitions[web].environment.LOG_LEVEL: info -> "
      "info\\n::error::forged\\x1b[31m"]),
    ("nested object by key", nothing,
     lambda b: web(b)["logConfiguration"]["options"].update({"awslogs-group": "/ecs/other"}),
     None, ["containerDefinitions[web].logConfiguration.options.awslogs-group: /ecs/dev-web "
            "-> /ecs/other"]),
]


@pytest.mark.parametrize(("edit_current", "edit_desired", "tags", "expected"),
                         [c[1:] for c in TASK_CASES], ids=[c[0] for c in TASK_CASES])
def test_task_definition(edit_current: Edit, edit_desired: Edit, tags: dict[str, str] | None,
                         expected: list[str]) -> None:
    current, desired = pair(edit_current, edit_desired, tags)
    assert [d.describe() for d in diff.task_definition(current, desired)] == expected


def test_task_definition_masks_values_nowhere_shown() -> None:
    current, desired = pair(lambda b: env(b, "DB_URL", "postgres://app:Tr0ub4dor@db/app"),
                            lambda b: env(b, "DB_URL", "postgres://app:0ther-pw@db/app"))
    found = diff.task_definition(current, desired)
    assert len(found) == 1
    assert "Tr0ub4dor" not in repr(found)
    assert "0ther-pw" not in repr(found)


def test_task_definition_is_sorted_and_deterministic() -> None:
    current, desired = pair(nothing, lambda b: (
        b.update(memory="2048", cpu="1024"), env(b, "A_NEW", "1"), sidecar(b)))
    first = diff.task_definition(current, desired)
    assert [d.path for d in first] == sorted(d.path for d in first)
    assert first == diff.task_definition(copy.deepcopy(current), copy.deepcopy(desired))


def test_task_definition_long_value_cut() -> None:
    current, desired = pair(nothing, lambda b: env(b, "LOG_LEVEL", "x" * 500))
    (found,) = diff.task_definition(current, desired)
    assert found.after == "x" * 200 + "…"


HIDDEN_CASES: list[tuple[str, Any, Any, list[Difference]]] = [
    ("a string holding it", {"States": {"Run": {"Parameters": {"Cmd": "run --x s3cr3t-v4lue"}}}},
     {"States": {"Run": {"Parameters": {"Cmd": "run --x other"}}}},
     [Difference("States.Run.Parameters.Cmd", "(hidden, 20 chars)", "run --x other")]),
    ("inside a JSON value", {}, {"Env": ["a", "s3cr3t-v4lue"]},
     [Difference("Env", None, '["a","(hidden, 12 chars)"]')]),
    ("in a key", {"s3cr3t-v4lue": 1}, {}, [Difference("(hidden)", "1", None)]),
]


@pytest.mark.parametrize(("current", "desired", "expected"), [c[1:] for c in HIDDEN_CASES],
                         ids=[c[0] for c in HIDDEN_CASES])
def test_hidden_values_masked_in_state_machines(current: Any, desired: Any,
                                                expected: list[Difference]) -> None:
    found = diff.state_machine(current, desired, hidden=["s3cr3t-v4lue", ""])
    assert found == expected
    assert "s3cr3t" not in repr(found)


def test_hidden_values_masked_in_task_definitions() -> None:
    current, desired = pair(nothing, lambda b: env(b, "GREETING", "hello s3cr3t-v4lue"))
    assert [d.describe() for d in diff.task_definition(current, desired, hidden=["s3cr3t"])
            ] == ["containerDefinitions[web].environment.GREETING: added ((hidden, 18 chars))"]


def test_hidden_values_masked_in_lambda_configurations_and_files() -> None:
    found = diff.lambda_configuration({"environment": {"GREETING": "hi s3cr3t"}},
                                      {"environment": {}}, hidden=["s3cr3t"])
    assert found == [Difference("environment.GREETING", "(hidden, 9 chars)", None)]
    assert diff.files({"s3cr3t.csv": A}, {}, hidden=["s3cr3t"]) == [
        Difference("files/(hidden)", None, "a1a1a1a1a1a1")]


def machine(run: dict[str, Any], **states: Any) -> dict[str, Any]:
    return {"Comment": "score", "StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", **run},
        **states}}


FN = "arn:aws:lambda:eu-west-1:111111111111:function:score"
STATE_CASES: list[tuple[str, Any, Any, list[Difference]]] = [
    ("same", machine({"Parameters": {"FunctionName": FN}}),
     machine({"Parameters": {"FunctionName": FN}}), []),
    ("nested change", machine({"Parameters": {"FunctionName": FN + ":1"}}),
     machine({"Parameters": {"FunctionName": FN + ":2"}}),
     [Difference("States.Run.Parameters.FunctionName", FN + ":1", FN + ":2")]),
    ("key with a dot", machine({}, **{"a.b": {"Type": "Pass"}}),
     machine({}, **{"a.b": {"Type": "Succeed"}}),
     [Difference('States["a.b"].Type', "Pass", "Succeed")]),
    ("key with a bracket", {"x[0]": 1}, {"x[0]": 2}, [Difference('["x[0]"]', "1", "2")]),
    ("list element added", machine({"Retry": [{"MaxAttempts": 2}]}),
     machine({"Retry": [{"MaxAttempts": 2}, {"MaxAttempts": 5}]}),
     [Difference("States.Run.Retry[1]", None, '{"MaxAttempts":5}')]),
    ("state removed", machine({}, Done={"Type": "Succeed"}), machine({}),
     [Difference("States.Done", '{"Type":"Succeed"}', None)]),
    ("null is not absent", {"a": None}, {}, [Difference("a", "null", None)]),
    ("a string is not a number", {"a": 1}, {"a": "1"}, [Difference("a", "1", '"1"')]),
    ("true is not 1", {"a": True}, {"a": 1}, [Difference("a", "true", "1")]),
    ("the whole document", [], {}, [Difference("(all)", "[]", "{}")]),
    ("a secret-named parameter", {"Parameters": {"ApiKey": "k-1234567890"}},
     {"Parameters": {"ApiKey": "k-0987654321"}},
     [Difference("Parameters.ApiKey", "(hidden, 12 chars)", "(hidden, 12 chars)")]),
    ("ECS override entries: the name beside the value",
     {"Environment": [{"Name": "DB_PASSWORD", "Value": "p4ss-one"}]},
     {"Environment": [{"Name": "DB_PASSWORD", "Value": "p4ss-two!"}]},
     [Difference("Environment[0].Value", "(hidden, 8 chars)", "(hidden, 9 chars)")]),
    ("an entry renamed: masked when either name says secret",
     {"Environment": [{"Name": "DB_PASSWORD", "Value": "p4ss-one"}]},
     {"Environment": [{"Name": "LOG_LEVEL", "Value": "info"}]},
     [Difference("Environment[0].Name", "DB_PASSWORD", "LOG_LEVEL"),
      Difference("Environment[0].Value", "(hidden, 8 chars)", "(hidden, 4 chars)")]),
]


@pytest.mark.parametrize(("current", "desired", "expected"), [c[1:] for c in STATE_CASES],
                         ids=[c[0] for c in STATE_CASES])
def test_state_machine(current: Any, desired: Any, expected: list[Difference]) -> None:
    assert diff.state_machine(current, desired) == expected


LAMBDA_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    ("image", {"image": DIGEST, "environment": {}}, {"image": NEW_DIGEST, "environment": {}},
     [f"image: {DIGEST} -> {NEW_DIGEST}"]),
    ("environment by name", {"environment": {"A": "1", "B": "2"}},
     {"environment": {"A": "1", "B": "3", "C": "4"}},
     ["environment.B: 2 -> 3", 'environment.C: added ("4")']),
    ("first environment variable", {"image": DIGEST}, {"image": DIGEST, "environment": {"A": "1"}},
     ['environment.A: added ("1")']),
    ("secret masked", {"environment": {"STRIPE_KEY": "sk_live_" + "a1B2" * 6}},
     {"environment": {}}, ["environment.STRIPE_KEY: removed"]),
    ("secret masked, changed", {"environment": {"JWT_SECRET": "abc"}},
     {"environment": {"JWT_SECRET": "abcd"}},
     ["environment.JWT_SECRET: (hidden, 3 chars) -> (hidden, 4 chars)"]),
    ("memory", {"memory": 512}, {"memory": 1024}, ["memory: 512 -> 1024"]),
]


@pytest.mark.parametrize(("current", "desired", "expected"), [c[1:] for c in LAMBDA_CASES],
                         ids=[c[0] for c in LAMBDA_CASES])
def test_lambda_configuration(current: dict[str, Any], desired: dict[str, Any],
                              expected: list[str]) -> None:
    found = diff.lambda_configuration(current, desired)
    assert [d.describe() for d in found] == expected
    assert "a1B2" not in repr(found)


A, B = "a1" * 32, "b2" * 32
FILE_CASES: list[tuple[str, dict[str, str], dict[str, str | None], list[Difference]]] = [
    ("added", {"data/a.csv": A}, {"data/a.csv": None},
     [Difference("files/data/a.csv", None, "a1a1a1a1a1a1")]),
    ("not asked about is added too", {"data/a.csv": A}, {},
     [Difference("files/data/a.csv", None, "a1a1a1a1a1a1")]),
    ("changed", {"data/a.csv": B}, {"data/a.csv": A},
     [Difference("files/data/a.csv", "a1a1a1a1a1a1", "b2b2b2b2b2b2")]),
    ("unchanged", {"data/a.csv": A}, {"data/a.csv": A}, []),
    ("only in the bucket: a publish leaves it", {}, {"old.csv": A}, []),
    ("several, sorted", {"b.csv": A, "a.csv": B, "c.csv": A},
     {"a.csv": A, "b.csv": None, "c.csv": A},
     [Difference("files/a.csv", "a1a1a1a1a1a1", "b2b2b2b2b2b2"),
      Difference("files/b.csv", None, "a1a1a1a1a1a1")]),
    ("a line break in a key", {"a\nb": A}, {}, [Difference("files/a\\nb", None, "a1a1a1a1a1a1")]),
]


@pytest.mark.parametrize(("local", "remote", "expected"), [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_files(local: dict[str, str], remote: dict[str, str | None],
               expected: list[Difference]) -> None:
    assert diff.files(local, remote) == expected


MEMORY = Difference("memory", "512", "1024")
ADDED = Difference("environment.X", None, "1")
REMOVED = Difference("secrets.DB", SSM + "db", None)
IMAGE = Difference("image", DIGEST, NEW_DIGEST)
BRIEF_CASES: list[tuple[str, list[Difference], int, str]] = [
    ("none", [], 3, "no changes"),
    ("one", [MEMORY], 3, "memory 512 -> 1024"),
    ("within the limit", [MEMORY, ADDED, IMAGE], 3,
     "memory 512 -> 1024, environment.X added, image changed"),
    ("over the limit", [MEMORY, ADDED, IMAGE, REMOVED, MEMORY], 3,
     "memory 512 -> 1024, environment.X added, image changed (+2 more)"),
    ("limit 1", [REMOVED, MEMORY], 1, "secrets.DB removed (+1 more)"),
    ("limit 0", [MEMORY, ADDED], 0, "(+2 more)"),
    ("an empty value", [Difference("environment.X", "", "1")], 3, 'environment.X "" -> 1'),
]


@pytest.mark.parametrize(("differences", "limit", "expected"), [c[1:] for c in BRIEF_CASES],
                         ids=[c[0] for c in BRIEF_CASES])
def test_brief(differences: list[Difference], limit: int, expected: str) -> None:
    assert diff.brief(differences, limit) == expected


DESCRIBE_CASES: list[tuple[Difference, str]] = [
    (MEMORY, "memory: 512 -> 1024"),
    (ADDED, 'environment.X: added ("1")'),
    (REMOVED, "secrets.DB: removed"),
    (Difference("a", "", "x"), 'a: "" -> x'),
    (Difference("a", None, "(hidden, 4 chars)"), "a: added ((hidden, 4 chars))"),
    (Difference("a", None, '{"b":1}'), 'a: added ({"b":1})'),
]


@pytest.mark.parametrize(("difference", "expected"), DESCRIBE_CASES,
                         ids=[c[1] for c in DESCRIBE_CASES])
def test_describe(difference: Difference, expected: str) -> None:
    assert difference.describe() == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=12)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(a=json_objects, b=json_objects)
def test_state_machine_differs_exactly_when_documents_differ(a: dict[str, Any],
                                                             b: dict[str, Any]) -> None:
    assert diff.state_machine(a, copy.deepcopy(a)) == []
    found = diff.state_machine(a, b)
    if a != b:
        assert found != []
    for difference in found:
        assert "\n" not in difference.path + str(difference.before) + str(difference.after)
