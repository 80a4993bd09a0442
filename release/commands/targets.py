"""Per-target work of a deploy: observe what runs, decide with ``planning``, apply.

Each ``observe_*`` reads the cloud; each ``apply_*`` changes it and returns what it did.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from release import repo_files
from release.adapters import registry
from release.adapters.aws import (
    deployed,
    ecs,
    ecs_address,
    ecs_rollout,
    lambda_,
    s3,
    stepfunctions,
)
from release.adapters.aws.clients import AwsClients, explain
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.adapters.azure import acr, container_apps
from release.commands import auth_azure
from release.commands import render as render_cmd
from release.config.model import Config, Environment, Registry, ServiceDeployment
from release.config.source import SourceError, dotted, read_source
from release.errors import EXIT_CONFIG, ConfigError, Problem, ReleaseError, StepError
from release.planning import lambda_image, plan, taskdef

BUILD_KEY_TAG = "release:build-key"
SOURCE_COMMIT_TAG = "release:source-commit"
CONFIG_KEY_TAG = "release:config-key"

ReadManifest = Callable[[registry.Login, str, str, registry.Endpoint | None],
                        lambda_image.ImageManifest]


class ImageReads:
    """What each image is (index or single manifest, which platform), read from its registry
    once per run however many functions get it; shared by the threads deploying services."""

    def __init__(self, login: Callable[[Context, Registry], registry.Login] | None = None,
                 read: ReadManifest = registry.image_manifest) -> None:
        self._login = login
        self._read = read
        self._lock = threading.Lock()
        self._logins: dict[Registry, registry.Login] = {}
        self._found: dict[str, lambda_image.ImageManifest] = {}
        self._reading: dict[str, threading.Lock] = {}

    def manifest(self, ctx: Context, reg: Registry, image: str) -> lambda_image.ImageManifest:
        """What ``image`` (``host/repository@digest``, in ``reg``) is."""
        with self._lock:
            reading = self._reading.setdefault(image, threading.Lock())
        with reading:  # a second thread wanting the same image waits for the first read
            if image not in self._found:
                name, _, digest = image.rpartition("@")
                if not name.startswith(f"{reg.host}/") or not digest:
                    raise ReleaseError(f"{image} is not an image of {reg.host} pinned by digest")
                endpoint = (registry.Endpoint(f"https://{reg.host}", acr.tls_context(
                    os.environ.get("REQUESTS_CA_BUNDLE"))) if reg.type == "acr" else None)
                self._found[image] = self._read(self._login_to(ctx, reg),
                                                name.removeprefix(f"{reg.host}/"), digest,
                                                endpoint)
            return self._found[image]

    def _login_to(self, ctx: Context, reg: Registry) -> registry.Login:
        with self._lock:
            known = self._logins.get(reg)
        if known is None:
            if self._login is not None:
                known = self._login(ctx, reg)
            else:  # the build phase's own login (commands.images imports this module)
                from release.commands import images

                known = images.login(ctx, reg)
            with self._lock:
                self._logins[reg] = known
        return known


@dataclass(frozen=True)
class Context:
    """Everything target work needs, shared by all services of one deploy."""

    config: Config
    env: Environment
    aws: AwsClients | None  # None: no chosen service touches AWS
    commit: str
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = lambda _line: None
    random: Callable[[], float] = random.random
    watcher: RolloutWatcher | None = None  # shared by every service: one batched poller
    config_keys: Mapping[str, str] = field(default_factory=dict)  # what `release plan` compares
    azure: auth_azure.Session | None = None  # one Entra ID token for the whole deploy
    ecs_reads: ecs.Reads | None = None  # the chosen services' DescribeServices, shared
    images: ImageReads = field(default_factory=ImageReads)  # what Lambda is about to get

    def client(self, name: str) -> Any:
        """The AWS client for ``name``; an error when this deploy has no AWS account."""
        if self.aws is None:
            raise ReleaseError(f"{self.env.path} has no aws block",
                               "add aws: {region, account_id, role_arn}")
        return self.aws.client(name)

    def azure_session(self) -> auth_azure.Session:
        """The deploy's Azure session (a new one when none was given)."""
        return self.azure or auth_azure.Session(self.env, os.environ)

    def azure_wait(self) -> container_apps.Wait:
        """Waiting for a container app revision, on this context's clock."""
        return container_apps.Wait(clock=self.clock, sleep=self.sleep, log=self.log)

    def rollouts(self) -> ecs_rollout.Rollouts:
        """ECS rollouts through the shared watcher (a private one when none was given)."""
        watcher = self.watcher or RolloutWatcher(lambda: self.client("ecs"),
                                                 Pace(self.clock, self.sleep))
        return ecs_rollout.Rollouts(self.client("ecs"), watcher, self.log)

    def lambda_pace(self) -> lambda_.Pace:
        """Waits and retries of Lambda updates, on this context's clock."""
        return lambda_.Pace(self.clock, self.sleep, self.random)


@dataclass
class Observed:
    """What one service runs now, per target."""

    ecs: ecs.ServiceState | None = None
    ecs_latest: plan.Revision | None = None
    function: lambda_.FunctionState | None = None
    state_machine: dict[str, Any] | None = None
    files: dict[str, str | None] = field(default_factory=dict)
    container_app: container_apps.Running | None = None


@dataclass(frozen=True)
class Done:
    """What applying one target did."""

    registered: bool = False
    updated: bool = False
    detail: str = ""
    url: str | None = None
    arn: str | None = None  # the task definition an ECS service runs afterwards
    # an ECS service after its rollout: (cluster, its description), for ``with_urls``
    reach: tuple[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)


def tags(build_key: str, commit: str, config_key: str | None = None) -> dict[str, str]:
    """Tags recording what a deployment was built from."""
    recorded = {BUILD_KEY_TAG: build_key, SOURCE_COMMIT_TAG: commit}
    if config_key:
        recorded[CONFIG_KEY_TAG] = config_key
    return recorded


def local_files(ctx: Context, dep: ServiceDeployment) -> dict[str, Path]:
    """S3 key -> local file (resolved: regular, inside the repository), for every file the
    service publishes; an ``S3SourceError`` naming the s3_files entry for anything else."""
    if dep.s3 is None:
        return {}
    values = {"env": ctx.env.name, "service": dep.name}
    out: dict[str, Path] = {}
    for index, item in enumerate(dep.s3.files):
        key = taskdef.substitute(item.key, values)
        prefix = key if key.endswith("/") else key + "/"
        try:
            for rel, path in repo_files.files_under(ctx.config.root, item.source):
                out[prefix + rel if rel else key] = path
        except repo_files.PathRefused as exc:
            raise _s3_problem(ctx, dep, index, exc.message, exc.hint) from None
        except FileNotFoundError:
            raise _s3_problem(ctx, dep, index, f"'{item.source}' does not exist",
                              "commit it, or remove the entry") from None
    return out


class S3SourceError(StepError):
    """An S3 source that must not be published (outside the repository, not a regular
    file): the config is wrong, so exit code 2; ``problem`` locates it in release.yaml."""

    exit_code = EXIT_CONFIG

    def __init__(self, service: str, problem: Problem) -> None:
        super().__init__(service, "s3_files", problem.render(), problem.hint)
        self.problem = problem


def _s3_problem(ctx: Context, dep: ServiceDeployment, index: int | None, message: str,
                hint: str) -> S3SourceError:
    """A refused S3 source, at its line of release.yaml when found. A deploy reports it as
    this service's failure, with the other services carrying on."""
    at: tuple[str | int, ...] = ("services", dep.service.name, "s3_files")
    if index is not None:
        at = (*at, index, "source")
    try:  # only on this error path: a valid release.yaml is not parsed again
        line = read_source(ctx.config.root, ctx.config.release_path).line(at)
    except (SourceError, OSError):
        line = None
    return S3SourceError(dep.name, Problem(ctx.config.release_path, line, dotted(at),
                                           message, hint))


def _checksums(ctx: Context, dep: ServiceDeployment) -> dict[str, str]:
    """S3 key -> SHA-256 of the local file."""
    try:
        return {key: s3.sha256_of(path) for key, path in local_files(ctx, dep).items()}
    except repo_files.PathRefused as exc:  # changed since the walk: refused when opened
        raise _s3_problem(ctx, dep, None, exc.message, exc.hint) from None


def observe(ctx: Context, dep: ServiceDeployment) -> Observed:
    """Read every target of ``dep`` from the cloud."""
    seen = Observed()
    if dep.ecs is not None:
        client = ctx.client("ecs")
        found = (ctx.ecs_reads.service(dep.ecs.cluster, dep.ecs.service)
                 if ctx.ecs_reads is not None else None)
        if ctx.ecs_reads is not None and found is None:
            raise ecs.missing(dep.ecs.cluster, dep.ecs.service)
        seen.ecs = ecs.describe(client, dep.ecs.cluster, dep.ecs.service,
                                family=dep.ecs.family, found=found)
        latest = seen.ecs.latest
        seen.ecs_latest = plan.Revision(latest.arn, latest.body, latest.tags) if latest else None
    if dep.lambda_ is not None:
        seen.function = lambda_.describe(ctx.client("lambda"), dep.lambda_.function,
                                         dep.lambda_.alias)
    if dep.step_functions is not None:
        seen.state_machine = stepfunctions.current_definition(
            ctx.client("stepfunctions"), _state_machine_arn(ctx, dep))
    if dep.s3 is not None:
        client = ctx.client("s3")
        seen.files = {key: s3.remote_sha256(client, dep.s3.bucket, key)
                      for key in local_files(ctx, dep)}
    if dep.azure_container_app is not None:
        seen.container_app = auth_azure.current_app(ctx.env, dep.name, os.environ,
                                                    ctx.azure_session())
    return seen


def _state_machine_arn(ctx: Context, dep: ServiceDeployment) -> str:
    assert dep.step_functions is not None  # noqa: S101 - callers check
    aws = ctx.env.aws
    if aws is None:
        raise ReleaseError(f"{dep.name}: step_functions needs the aws block")
    return stepfunctions.state_machine_arn(aws.region, aws.account_id,
                                           dep.step_functions.state_machine)


def desired_task_definition(ctx: Context, dep: ServiceDeployment, image: str,
                            build_key: str) -> dict[str, Any]:
    """The task definition to run ``image``, tagged with its build key and commit."""
    body, _ = render_cmd.render_for(ctx.config, ctx.env, dep.name, image,
                                    tags(build_key, ctx.commit, ctx.config_keys.get(dep.name)))
    return body


def desired_definition(ctx: Context, dep: ServiceDeployment,
                       seen: Observed) -> dict[str, Any] | None:
    """The state machine definition, with ``${function_arn}`` pointing at our alias."""
    assert dep.step_functions is not None  # noqa: S101
    values = render_cmd.placeholders(ctx.env, dep.name)
    if seen.function is not None and dep.lambda_ is not None:
        values["function_arn"] = lambda_.alias_arn(seen.function.arn, dep.lambda_.alias)
    try:
        raw = read_source(ctx.config.root, dep.step_functions.definition).data
    except SourceError as exc:  # validated already: only a file changed since then gets here
        raise ConfigError([exc.problem]) from None
    try:
        result: dict[str, Any] = taskdef.substitute(raw, values)
    except taskdef.UnknownPlaceholderError as exc:
        raise ReleaseError(f"{dep.step_functions.definition}: {exc}",
                           "only services with a lambda target can use ${function_arn}"
                           if exc.name == "function_arn" else
                           f"define it under vars: in {ctx.env.path}; known here: "
                           + ", ".join(f"${{{k}}}" for k in exc.known)) from None
    return result


def steps(ctx: Context, dep: ServiceDeployment, seen: Observed, *, image: str | None,
          build_key: str) -> list[plan.TargetStep]:
    """The plan for every target of one service (``image`` None: not built yet)."""
    out = []
    if dep.ecs is not None and seen.ecs is not None:
        desired = (desired_task_definition(ctx, dep, image, build_key)
                   if image is not None else None)
        running = plan.Revision(seen.ecs.task_definition_arn, seen.ecs.task_definition,
                                seen.ecs.tags)
        out.append(plan.ecs_step(dep.name, desired, running, seen.ecs_latest))
    if dep.lambda_ is not None and seen.function is not None:
        out.append(plan.lambda_step(
            dep.name, image, seen.function.image_uri, seen.function.alias_image_uri,
            environment_differs=dict(dep.lambda_.environment) != seen.function.environment))
    if dep.step_functions is not None and seen.state_machine is not None:
        out.append(plan.definition_step(dep.name, desired_definition(ctx, dep, seen),
                                        seen.state_machine))
    if dep.s3 is not None:
        local = _checksums(ctx, dep)
        out.append(plan.files_step(dep.name, local, seen.files))
    if dep.azure_container_app is not None and seen.container_app is not None:
        out.append(plan.container_app_step(dep.name, image, seen.container_app.image))
    return out


def apply(ctx: Context, dep: ServiceDeployment, step: plan.TargetStep, seen: Observed, *,
          image: str | None, build_key: str) -> Done:
    """Carry out one planned step."""
    if step.action == "none":
        running = seen.ecs.task_definition_arn if step.target == "ecs" and seen.ecs else None
        return Done(detail=_current_detail(step.target, seen), arn=running)
    if step.target == "ecs":
        return _apply_ecs(ctx, dep, step, seen, image=image, build_key=build_key)
    if step.target == "lambda":
        if dep.lambda_ is None or image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to Lambda")
        _refuse_what_lambda_rejects(ctx, dep, seen, image)  # before any update
        environment = dict(dep.lambda_.environment)
        changed = seen.function is None or environment != seen.function.environment
        recorded = tags(build_key, ctx.commit, ctx.config_keys.get(dep.name))
        version = lambda_.deploy_image(ctx.client("lambda"), lambda_.FunctionUpdate(
            dep.lambda_.function, dep.lambda_.alias, image,
            environment if changed else None, recorded,
            seen.function.arn if seen.function else None,
            bool(seen.function and seen.function.idle)), ctx.lambda_pace())
        return Done(updated=True, detail=f"version {version}")
    if step.target == "step_functions":
        definition = desired_definition(ctx, dep, seen)
        assert definition is not None  # noqa: S101
        stepfunctions.update(ctx.client("stepfunctions"), _state_machine_arn(ctx, dep),
                             definition)
        return Done(updated=True, detail="definition updated")
    if step.target == "s3_files":
        assert dep.s3 is not None  # noqa: S101
        client = ctx.client("s3")
        sent = 0
        for key, path in local_files(ctx, dep).items():
            try:
                sent += s3.publish(client, dep.s3.bucket, key, path, seen.files.get(key))
            except repo_files.PathRefused as exc:
                raise _s3_problem(ctx, dep, None, exc.message, exc.hint) from None
        return Done(updated=True, detail=f"{sent} files uploaded")
    if step.target == "azure_container_app":
        if image is None:
            raise ReleaseError(f"{dep.name}: no image to deploy to the container app")
        revision = auth_azure.deploy_container_app(ctx.env, dep.name, image, ctx.azure_wait(),
                                                   os.environ, session=ctx.azure_session())
        return Done(updated=True, detail=f"revision {revision}")
    raise ReleaseError(f"{dep.name}: unknown target {step.target}")


def _refuse_what_lambda_rejects(ctx: Context, dep: ServiceDeployment, seen: Observed,
                                image: str) -> None:
    """Raise, before any update, when the function would not run ``image``: an index (several
    platforms, attestations) or another architecture than the function's."""
    assert dep.lambda_ is not None  # noqa: S101 - the caller checks
    try:
        found = ctx.images.manifest(ctx, ctx.env.registry_of(dep), image)
    except ReleaseError as exc:
        raise ReleaseError(f"{dep.name}: cannot check the image for Lambda function "
                           f"{dep.lambda_.function} (nothing was updated): {exc.message}",
                           exc.hint) from None
    refusal = lambda_image.check(lambda_image.Subject(
        service=dep.name, function=dep.lambda_.function, image=image,
        architectures=seen.function.architectures if seen.function else ()), found)
    if refusal is not None:
        raise ReleaseError(refusal.message, refusal.hint)


def _current_detail(target: str, seen: Observed) -> str:
    if target == "ecs" and seen.ecs is not None:
        return "revision " + seen.ecs.task_definition_arn.rsplit(":", 1)[-1]
    if target == "lambda" and seen.function is not None:
        return f"version {seen.function.alias_version}"
    if target == "azure_container_app" and seen.container_app is not None:
        return f"revision {seen.container_app.revision or '?'}"
    return ""


def _apply_ecs(ctx: Context, dep: ServiceDeployment, step: plan.TargetStep, seen: Observed, *,
               image: str | None, build_key: str) -> Done:
    if dep.ecs is None or image is None:
        raise ReleaseError(f"{dep.name}: no image to deploy to ECS")
    client = ctx.client("ecs")
    registered = False
    if step.action == "update" and seen.ecs_latest is not None:
        arn = seen.ecs_latest.arn
    else:
        desired = desired_task_definition(ctx, dep, image, build_key)
        arn = ecs.register(client, desired)
        registered = True
        ctx.log(f"{dep.name}: registered {arn.rsplit('/', 1)[-1]}")
    assert seen.ecs is not None  # noqa: S101 - steps() plans ECS only for an observed service
    described = ctx.rollouts().roll_out(
        ecs_rollout.Target(dep.ecs.cluster, dep.ecs.service, dep.ecs.deadline_seconds,
                           dep.ecs.desired_count), arn,
        ecs_rollout.Before(seen.ecs.task_definition_arn, seen.ecs.rollback_on_failure))
    return Done(registered=registered, updated=True, arn=arn,
                detail="revision " + arn.rsplit(":", 1)[-1], reach=(dep.ecs.cluster, described))


def with_urls(ctx: Context, results: list[Done]) -> list[Done]:
    """``results`` with the URL of each rolled-out ECS service, looked up for all at once
    (after every rollout: one DescribeTasks and one DescribeNetworkInterfaces per cluster)."""
    reached = [(i, done.reach) for i, done in enumerate(results) if done.reach is not None]
    if not reached:
        return results
    urls = ecs_address.service_urls(ctx.client, [spot for _, spot in reached])
    out = list(results)
    for (i, _), url in zip(reached, urls, strict=True):
        out[i] = replace(out[i], url=url, reach=None)
    return out


def running_commits(seen: Observed) -> dict[str, str]:
    """Target -> the source commit recorded on what it runs now (where one is recorded)."""
    out = {}
    # A tag is read back from the cloud: only a commit id of the right shape may reach git
    # (a value starting with '-' would be read as an option).
    for target, found in (("ecs", seen.ecs), ("lambda", seen.function)):
        if found is None:
            continue
        commit = deployed.tag_value(found.tags, SOURCE_COMMIT_TAG, target, lambda _note: None)
        if commit:
            out[target] = commit
    return out


def record(ctx: Context, dep: ServiceDeployment, seen: Observed, build_key: str,
           unchanged: set[str]) -> None:
    """Tag what runs with this release's keys where an unchanged target lacks them, so that
    `release plan` sees the service as current. Nothing is called when the tags match.

    Only targets in ``unchanged`` are looked at: an updated one already carries the tags,
    and ``seen`` describes what ran before it (tagging that would mislabel the old revision).
    """
    want = tags(build_key, ctx.commit, ctx.config_keys.get(dep.name))
    keys = (BUILD_KEY_TAG, CONFIG_KEY_TAG)

    def stale(have: Mapping[str, str]) -> bool:
        return any(have.get(k) != want.get(k) for k in keys if k in want)

    try:
        if "ecs" in unchanged and dep.ecs is not None and seen.ecs is not None and stale(
                seen.ecs.tags):
            ctx.client("ecs").tag_resource(
                resourceArn=seen.ecs.task_definition_arn,
                tags=[{"key": k, "value": v} for k, v in want.items()])
        if "lambda" in unchanged and dep.lambda_ is not None and seen.function is not None and (
                stale(seen.function.tags)):
            ctx.client("lambda").tag_resource(Resource=seen.function.arn, Tags=want)
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise explain(exc, f"record the release on {dep.name}") from None
