"""What every engine operation shares: the outside world (``Deps``, made by the command
line and replaced in tests) and one run's ``Context`` (config, environment, clients)."""

from __future__ import annotations

import difflib
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from release import names
from release.adapters import buildkit, github, registry
from release.adapters.aws import ecs, ecs_rollout, lambda_
from release.adapters.aws.clients import AwsClients
from release.adapters.aws.ecs_watch import Pace, RolloutWatcher
from release.adapters.azure import acr, container_apps
from release.config.model import Config, Environment, Registry, ServiceDeployment
from release.engine.azure import Session as AzureSession
from release.errors import ReleaseError, UsageError
from release.planning import lambda_image

MAX_ROLLOUTS = 64  # threads that mostly wait; ECS's API rate limits bound the rest


def log_line(line: str) -> None:
    """One line on stderr per call: a line break in it (a cloud error, a build's output) is
    shown escaped, never as a line of its own that could pass for ours."""
    sys.stderr.write(names.printable(line) + "\n")
    sys.stderr.flush()


def _command(name: str, message: str) -> None:
    github.command(name, message, stream=sys.stderr)  # past the guard, beside the log lines


@dataclass
class Deps:
    """The outside world, made by the command line and replaced in tests. ``environ`` is
    the process environment the command line passes in (nothing below it reads
    ``os.environ``); ``aws`` and ``builds``, when None, are made from it."""

    aws: Callable[[Environment], AwsClients] | None = None
    builds: Callable[[], buildkit.Session] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = log_line
    random: Callable[[], float] = random.random
    environ: Mapping[str, str] = field(default_factory=dict)

    def clients(self, env: Environment) -> AwsClients:
        """The AWS clients of ``env``'s account (``env.aws`` is checked by the caller)."""
        if self.aws is not None:
            return self.aws(env)
        assert env.aws is not None  # noqa: S101 - callers check
        return AwsClients(env.aws, environ=self.environ)

    def open_builds(self) -> buildkit.Session:
        """The run's builder (found once, said in the log) with a private DOCKER_CONFIG;
        build output grouped per image under GitHub Actions, prefixed per service elsewhere."""
        if self.builds is not None:
            return self.builds()
        actions = self.environ.get("GITHUB_ACTIONS") == "true"
        return buildkit.Session.open(self.environ, buildkit.BuildLog(
            self.log, _command if actions else None))

    @property
    def under_actions(self) -> bool:
        """True in a GitHub Actions job."""
        return self.environ.get("GITHUB_ACTIONS") == "true"


def build_workers(asked: int) -> int:
    """Images built at once: ``asked``, or one per CPU when 0."""
    return asked if asked > 0 else (os.cpu_count() or 1)


def select(env: Environment, chosen: tuple[str, ...]) -> list[ServiceDeployment]:
    """The deployments to release: those named (checked), or all of the environment."""
    if not chosen:
        return list(env.deployments.values())
    unknown = [n for n in chosen if n not in env.deployments]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(env.deployments), n=1)
        raise UsageError(f"service '{name}' is not deployed to {env.name}",
                         f"did you mean '{close[0]}'?" if close else
                         f"services in {env.path}: {', '.join(env.deployments)}")
    return [env.deployments[n] for n in chosen]


ReadManifest = Callable[[registry.Login, str, str, registry.Endpoint | None],
                        lambda_image.ImageManifest]


class ImageReads:
    """What each image is (index or single manifest, which platform), read from its registry
    once per run however many functions get it; shared by the threads deploying services."""

    def __init__(self, login: Callable[[Registry], registry.Login], ca_bundle: str | None,
                 read: ReadManifest = registry.image_manifest) -> None:
        self._login = login
        self._ca_bundle = ca_bundle
        self._read = read
        self._lock = threading.Lock()
        self._found: dict[str, lambda_image.ImageManifest] = {}
        self._reading: dict[str, threading.Lock] = {}

    def manifest(self, reg: Registry, image: str) -> lambda_image.ImageManifest:
        """What ``image`` (``host/repository@digest``, in ``reg``) is."""
        with self._lock:
            reading = self._reading.setdefault(image, threading.Lock())
        with reading:  # a second thread wanting the same image waits for the first read
            if image not in self._found:
                name, _, digest = image.rpartition("@")
                if not name.startswith(f"{reg.host}/") or not digest:
                    raise ReleaseError(f"{image} is not an image of {reg.host} pinned by digest")
                endpoint = (registry.Endpoint(f"https://{reg.host}", acr.tls_context(
                    self._ca_bundle)) if reg.type == "acr" else None)
                self._found[image] = self._read(self._login(reg),
                                                name.removeprefix(f"{reg.host}/"), digest,
                                                endpoint)
            return self._found[image]


@dataclass(frozen=True)
class Context:
    """Everything target work needs, shared by all services of one run."""

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
    azure: AzureSession | None = None  # one Entra ID token for the whole run
    ecs_reads: ecs.Reads | None = None  # the chosen services' DescribeServices, shared
    images: ImageReads | None = None  # what Lambda is about to get (set by a deploy)
    environ: Mapping[str, str] = field(default_factory=dict)

    def client(self, name: str) -> Any:
        """The AWS client for ``name``; an error when this run has no AWS account."""
        if self.aws is None:
            raise ReleaseError(f"{self.env.path} has no aws block",
                               "add aws: {region, account_id, role_arn}")
        return self.aws.client(name)

    @property
    def ca_bundle(self) -> str | None:
        """The CA file Azure and ACR calls trust (``REQUESTS_CA_BUNDLE``), if any."""
        return self.environ.get("REQUESTS_CA_BUNDLE")

    def azure_session(self) -> AzureSession:
        """The run's Azure session (a new one when none was given)."""
        return self.azure or AzureSession(self.env, self.environ)

    def azure_wait(self) -> container_apps.Wait:
        """Waiting for a container app revision, on this context's clock."""
        return container_apps.Wait(clock=self.clock, sleep=self.sleep, log=self.log)

    def rollouts(self) -> ecs_rollout.Rollouts:
        """ECS rollouts through the shared watcher (a private one when none was given)."""
        watcher = self.watcher or RolloutWatcher(lambda: self.client("ecs"),
                                                 Pace(self.clock, self.sleep))
        return ecs_rollout.Rollouts(self.client("ecs"), watcher, self.log,
                                    lambda: self.client("logs"))

    def lambda_pace(self) -> lambda_.Pace:
        """Waits and retries of Lambda updates, on this context's clock."""
        return lambda_.Pace(self.clock, self.sleep, self.random)
