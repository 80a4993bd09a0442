"""Which AWS calls a release really makes, and whether the role's permissions policy allows
each one.

``recording`` hooks botocore's ``before-parameter-build`` event on the session every
``AwsClients`` client comes from (production code is unchanged: the test wraps
``AwsClients._session``), so every operation any adapter sends is seen with its parameters.
Each is named as IAM names it (botocore's service model: signing name + operation) and given
the ARNs IAM authorizes it against, derived from its parameters; ``missing`` then evaluates
them against the policy ``release iam trust-policy`` prints, with a small evaluator of Allow
statements (action and resource globs with ``*`` and ``?``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from release.adapters.aws.clients import AwsClients
from release.commands import iam
from release.config import load_config
from release.identity import policies

# Signing names that are not the IAM service prefix.
_PREFIX = {"monitoring": "cloudwatch"}
# Operations whose IAM action has another name (Service Authorization Reference).
_ACTION = {"lambda:Invoke": "lambda:InvokeFunction", "s3:HeadObject": "s3:GetObject",
           "s3:ListObjectsV2": "s3:ListBucket"}
# Calls no IAM policy governs: GetCallerIdentity needs no permission, and the web identity
# exchange is authorized by the role's trust policy, not its permissions.
_UNGOVERNED = {"sts:GetCallerIdentity", "sts:AssumeRoleWithWebIdentity"}


@dataclass(frozen=True)
class Call:
    """One authorization IAM makes for a call: an action on a resource ("*": none known)."""

    action: str
    resource: str

    def text(self) -> str:
        return f"{self.action} on {self.resource}"


def iam_action(model: Any) -> str:
    """``PREFIX:Operation`` of a botocore OperationModel, as IAM policies name it."""
    service = model.service_model
    signing = service.metadata.get("signingName") or service.endpoint_prefix
    action = f"{_PREFIX.get(signing, signing)}:{model.name}"
    return _ACTION.get(action, action)


@dataclass(frozen=True)
class Scope:
    """Where the release's calls go: what an ARN built from a call's names needs."""

    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def _arn_or(scope: Scope, service: str, name: str, form: str) -> str:
    return name if name.startswith("arn:") else scope.arn(service, form.format(name))


def _ecs(scope: Scope, op: str, p: Mapping[str, Any]) -> list[str]:
    cluster = str(p.get("cluster", "default")).rsplit("/", 1)[-1]
    if op in ("DescribeServices", "UpdateService", "ListServiceDeployments"):
        names = p.get("services") or [p["service"]]
        return [_arn_or(scope, "ecs", n, f"service/{cluster}/{{}}") for n in names]
    if op in ("DescribeServiceDeployments",):
        return list(p["serviceDeploymentArns"])
    if op in ("StopServiceDeployment", "ContinueServiceDeployment"):
        return [p["serviceDeploymentArn"]]
    if op in ("DescribeTasks", "StopTask"):
        return [_arn_or(scope, "ecs", t, f"task/{cluster}/{{}}")
                for t in p.get("tasks") or [p["task"]]]
    if op == "RunTask":
        return [_arn_or(scope, "ecs", p["taskDefinition"], "task-definition/{}")]
    if op == "TagResource":
        return [p["resourceArn"]]
    return ["*"]


def _lambda(scope: Scope, op: str, p: Mapping[str, Any]) -> list[str]:
    if op in ("ListTags", "TagResource", "UntagResource"):
        return [p["Resource"]]
    name = str(p.get("FunctionName", ""))
    if not name:
        return ["*"]
    arn = _arn_or(scope, "lambda", name, "function:{}")
    return [f"{arn}:{p['Qualifier']}" if p.get("Qualifier") else arn]


def _resources(scope: Scope, action: str, p: Mapping[str, Any]) -> list[str]:
    """The ARNs IAM authorizes ``action`` against, from the call's parameters."""
    service, op = action.split(":", 1)
    if service == "ecs":
        return _ecs(scope, op, p)
    if service == "lambda":
        return _lambda(scope, op, p)
    if service == "logs" and "logGroupName" in p:
        stream = f":log-stream:{p['logStreamName']}" if "logStreamName" in p else ""
        return [scope.arn("logs", f"log-group:{p['logGroupName']}{stream}")]
    if service == "cloudwatch" and p.get("AlarmNames"):
        return [scope.arn("cloudwatch", f"alarm:{name}") for name in p["AlarmNames"]]
    if service == "states" and "stateMachineArn" in p:
        return [p["stateMachineArn"]]
    if service == "s3" and "Bucket" in p:
        key = f"/{p['Key']}" if "Key" in p else ""
        return [f"arn:{scope.partition}:s3:::{p['Bucket']}{key}"]
    if service == "ecr" and "repositoryName" in p:
        account = p.get("registryId", scope.account)
        return [f"arn:{scope.partition}:ecr:{scope.region}:{account}:repository/"
                f"{p['repositoryName']}"]
    if service == "secretsmanager":
        return [p["SecretId"]]
    if service == "ssm":
        return [_arn_or(scope, "ssm", str(p["Name"]).removeprefix("/"), "parameter/{}")]
    return ["*"]


def _passed_roles(action: str, p: Mapping[str, Any]) -> list[str]:
    """Roles a call hands to a service: IAM also authorizes iam:PassRole on each."""
    if action == "ecs:RegisterTaskDefinition":
        return [p[k] for k in ("taskRoleArn", "executionRoleArn") if p.get(k)]
    if action == "ecs:RunTask":
        overrides = p.get("overrides") or {}
        return [overrides[k] for k in ("taskRoleArn", "executionRoleArn") if overrides.get(k)]
    if action == "ecs:UpdateService":
        hooks = (p.get("deploymentConfiguration") or {}).get("lifecycleHooks") or []
        return [hook["roleArn"] for hook in hooks if hook.get("roleArn")]
    return []


@dataclass
class Recorder:
    """Every authorization the release's AWS calls needed, in the order they were made."""

    scope: Scope
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        action = iam_action(model)
        if action in _UNGOVERNED:
            return
        found = [Call(action, arn) for arn in _resources(self.scope, action, params)]
        found += [Call("iam:PassRole", role) for role in _passed_roles(action, params)]
        with self._lock:
            self.calls += found

    def actions(self) -> set[str]:
        return {call.action for call in self.calls}


@contextmanager
def recording(monkeypatch: pytest.MonkeyPatch, scope: Scope) -> Iterator[Recorder]:
    """Record the calls of every AwsClients made while the block runs."""
    recorder = Recorder(scope)
    original = AwsClients._session

    def hooked(self: AwsClients) -> Any:
        session = original(self)
        events = getattr(session, "_session", session)  # a boto3 Session: its botocore one
        events.register("before-parameter-build", recorder.record,
                        unique_id="iam-coverage-recorder")
        return session

    with monkeypatch.context() as patch:
        patch.setattr(AwsClients, "_session", hooked)
        yield recorder


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM glob: ``*`` any run of characters (``:`` and ``/`` too), ``?`` exactly one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allows(policy: Mapping[str, Any], call: Call) -> bool:
    """True when an Allow statement names the action and the resource.

    Conditions are not evaluated: the policy's conditions (iam:PassedToService on PassRole,
    ecs:cluster on ListTasks and RunTask) only narrow a statement, and the release's own
    calls meet them by construction (its roles go to ECS tasks, its tasks to its clusters).
    A resource that could not be derived ("*") matches only a statement whose resource is
    "*" itself, never a scoped one.
    """
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        if not any(_glob(a.lower()).fullmatch(call.action.lower())
                   for a in _list(statement["Action"])):
            continue
        if any(_glob(r).fullmatch(call.resource) for r in _list(statement["Resource"])):
            return True
    return False


def missing(policy: Mapping[str, Any], calls: list[Call]) -> list[str]:
    """Each distinct call the policy does not allow, as ``ACTION on ARN``."""
    return sorted({call.text() for call in calls if not allows(policy, call)})


def _environment(root: Path, environment: str) -> tuple[Any, Any]:
    config = load_config(root, (environment,))
    return config, config.environments[environment]


@contextmanager
def every_call_allowed(monkeypatch: pytest.MonkeyPatch, root: Path,
                       environment: str = "local") -> Iterator[Recorder]:
    """Record the release's calls while the block runs, then fail naming each one the
    permissions policy of ``environment`` (as ``release iam trust-policy`` prints it, from
    the configuration as it is at the end) does not allow."""
    _, env = _environment(root, environment)
    scope = Scope(env.aws.role_arn.split(":")[1], env.aws.region, env.aws.account_id)
    with recording(monkeypatch, scope) as recorder:
        yield recorder
    config, env = _environment(root, environment)
    policy = policies.permissions_policy(iam.resources(config, env))
    denied = missing(policy, recorder.calls)
    assert not denied, ("the permissions policy misses calls the release made:\n  "
                        + "\n  ".join(denied))
