"""The validated configuration, as frozen dataclasses with every default filled in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

TargetKind = Literal["ecs", "lambda", "step_functions", "s3_files", "azure_container_app",
                     "docker_host"]
TARGET_KINDS: tuple[TargetKind, ...] = (
    "ecs", "lambda", "step_functions", "s3_files", "azure_container_app", "docker_host",
)
AWS_KINDS: frozenset[TargetKind] = frozenset({"ecs", "lambda", "step_functions", "s3_files"})
DEFAULT_PLATFORM = "linux/amd64"
DEFAULT_ALIAS = "live"
DEFAULT_DEADLINE_SECONDS = 900


@dataclass(frozen=True)
class EcsTarget:
    """The service runs on ECS from a base task definition kept in the repository."""

    task_definition: str
    container: str | None = None


@dataclass(frozen=True)
class LambdaTarget:
    """The service's image runs as a Lambda function (its name and alias are per environment)."""


@dataclass(frozen=True)
class StepFunctionsTarget:
    """A state machine whose definition (a JSON file in the repository) ships with the service."""

    definition: str


@dataclass(frozen=True)
class AzureAppTarget:
    """The service's image runs in an Azure container app (the app is per environment)."""

    container: str | None = None  # the container to update; None: the app's only one


@dataclass(frozen=True)
class DockerHostTarget:
    """The service's image runs as a container on a Docker host (a VM) named per environment."""


@dataclass(frozen=True)
class S3File:
    """A file or directory published to S3 under ``key`` (a prefix for directories)."""

    source: str
    key: str


@dataclass(frozen=True)
class BuildSecret:
    """A BuildKit secret (``RUN --mount=type=secret,id=ID``) and where its value comes from:
    exactly one of ``env``, ``file``, ``aws_secret``, ``ssm`` is set."""

    id: str
    env: str | None = None  # an environment variable of the release's process
    file: str | None = None  # a repository-relative file, outside the build context
    aws_secret: str | None = None  # a Secrets Manager secret ARN, read at build time
    ssm: str | None = None  # an SSM parameter name (SecureString), read at build time


@dataclass(frozen=True)
class BuildCache:
    """Where a build's layer cache comes from and goes to."""

    registry: bool = True  # the registry: the previous build key's image / a buildcache ref
    gha: bool = False  # GitHub Actions' cache service (buildx under Actions only)


@dataclass(frozen=True)
class Service:
    """A service of ``release.yaml``: how its image is built and which targets it has."""

    name: str
    context: str
    dockerfile: str
    repository: str
    platform: str
    watch: tuple[str, ...] = ()  # includes the paths of the libraries it uses
    build_args: Mapping[str, str] = field(default_factory=dict)
    uses: tuple[str, ...] = ()  # libraries, direct and transitive
    ecs: EcsTarget | None = None
    lambda_: LambdaTarget | None = None
    step_functions: StepFunctionsTarget | None = None
    s3_files: tuple[S3File, ...] = ()  # empty: no S3 target
    azure_container_app: AzureAppTarget | None = None
    docker_host: DockerHostTarget | None = None
    target: str | None = None  # the Dockerfile stage to build (None: the last one)
    build_secrets: tuple[BuildSecret, ...] = ()
    tags: tuple[str, ...] = ()  # tag templates pushed beside the build key (image_tags)
    platforms: tuple[str, ...] = ()  # empty: (platform,)
    attestations: bool = False  # provenance/SBOM attestations (an image index)
    cache: BuildCache = field(default_factory=BuildCache)
    builder: str | None = None  # a buildx builder name (None: BUILDX_BUILDER or the default)

    @cached_property  # asked for several times per service while loading and planning
    def targets(self) -> tuple[TargetKind, ...]:
        """The kinds of target this service deploys to, in a fixed order."""
        present = {
            "ecs": self.ecs is not None,
            "lambda": self.lambda_ is not None,
            "step_functions": self.step_functions is not None,
            "s3_files": bool(self.s3_files),
            "azure_container_app": self.azure_container_app is not None,
            "docker_host": self.docker_host is not None,
        }
        return tuple(kind for kind in TARGET_KINDS if present[kind])

    @cached_property
    def image_platforms(self) -> tuple[str, ...]:
        """The platforms the image is built for: ``platforms``, else ``(platform,)``."""
        return self.platforms or (self.platform,)

    @cached_property
    def needs_image(self) -> bool:
        """True when a target runs the image (S3 files and state machines alone do not)."""
        return (self.ecs is not None or self.lambda_ is not None
                or self.azure_container_app is not None or self.docker_host is not None)


@dataclass(frozen=True)
class AwsAccount:
    """Where AWS calls go and which role they run as."""

    region: str
    account_id: str
    role_arn: str
    endpoint_url: str | None = None  # loopback only: the embedded local cloud
    role_accounts: tuple[str, ...] = ()  # other accounts whose roles may be named here


@dataclass(frozen=True)
class AzureAccount:
    """The Entra ID app and subscription used through GitHub OIDC."""

    tenant_id: str
    client_id: str
    subscription_id: str
    authority_url: str = "https://login.microsoftonline.com"
    management_url: str = "https://management.azure.com"
    acr_exchange_url: str | None = None  # None: https://<registry host>/oauth2/exchange


@dataclass(frozen=True)
class Registry:
    """Where images are pushed."""

    type: Literal["ecr", "acr", "oci"]
    host: str


@dataclass(frozen=True)
class LifecycleHook:
    """An ECS lifecycle hook: a Lambda function (``function_arn``) or a pause (None)."""

    stages: tuple[str, ...]
    function_arn: str | None = None
    role_arn: str | None = None
    timeout_minutes: int | None = None
    timeout_action: str | None = None  # rollback | continue


@dataclass(frozen=True)
class RunTaskGate:
    """A one-off task from the new task definition that must exit 0 before traffic moves."""

    command: tuple[str, ...]
    container: str | None = None  # None: the service's container
    timeout_seconds: int = 600


@dataclass(frozen=True)
class SmokeCheck:
    """An HTTP GET the new revision must pass before it takes production traffic."""

    path: str = "/"
    status: int = 200
    body_contains: str | None = None
    timeout_seconds: int = 10
    url: str | None = None  # where to GET instead of the route looked up (path appended)
    host_header: str | None = None  # with url: the Host (and TLS name) to send


@dataclass(frozen=True)
class EcsStrategy:
    """``ecs.deployment``: how traffic moves to the new revision, and the gates around it."""

    strategy: Literal["rolling", "blue_green", "canary", "linear"] = "rolling"
    canary_percent: float = 5.0
    step_percent: float = 10.0
    step_minutes: int | None = None  # None: ECS's default for the strategy
    bake_minutes: int = 0
    alarms: tuple[str, ...] = ()
    circuit_breaker: bool = True
    lifecycle_hooks: tuple[LifecycleHook, ...] = ()
    run_task: RunTaskGate | None = None
    smoke: SmokeCheck | None = None

    @property
    def progressive(self) -> bool:
        """True for blue_green, canary and linear (ECS runs the traffic move)."""
        return self.strategy != "rolling"


@dataclass(frozen=True)
class EcsDeployment:
    """One service's ECS values in one environment."""

    cluster: str
    service: str
    family: str
    container: str | None
    cpu: str | None = None
    memory: str | None = None
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    log_group: str | None = None
    desired_count: int | None = None
    deadline_seconds: int = DEFAULT_DEADLINE_SECONDS
    deployment: EcsStrategy | None = None  # None: a rolling update as ECS is set up


@dataclass(frozen=True)
class LambdaSmoke:
    """An invoke of the new version before it takes more traffic: its payload (JSON text)
    and, optionally, a substring its answer must hold."""

    payload: str = "{}"
    expect_contains: str | None = None


@dataclass(frozen=True)
class LambdaTraffic:
    """How a Lambda alias moves to a new version (``lambda.deployment``): all at once, or a
    canary / linear shift of the alias's weights, watched by gates."""

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    percent: int = 10  # canary: the first share; linear: each step
    interval_seconds: int = 60  # how long each share is watched
    alarms: tuple[str, ...] = ()  # CloudWatch alarm names: any in ALARM rolls back
    smoke: LambdaSmoke | None = None


@dataclass(frozen=True)
class LambdaDeployment:
    """One service's Lambda function in one environment."""

    function: str
    alias: str = DEFAULT_ALIAS
    environment: Mapping[str, str] = field(default_factory=dict)
    deployment: LambdaTraffic = field(default_factory=LambdaTraffic)


@dataclass(frozen=True)
class StepFunctionsDeployment:
    """The state machine updated with the service."""

    state_machine: str
    definition: str


@dataclass(frozen=True)
class S3Deployment:
    """Where the service's files are published."""

    bucket: str
    files: tuple[S3File, ...]


@dataclass(frozen=True)
class AppTraffic:
    """How a container app's traffic moves to a new revision (``azure_container_app.
    deployment``): all at once, or a canary share of ``ingress.traffic`` checked by an HTTP
    smoke check against the new revision's own URL."""

    strategy: Literal["all_at_once", "canary"] = "all_at_once"
    percent: int = 10  # canary: the new revision's share during the check
    interval_seconds: int = 60  # canary: how long it holds that share after the check
    smoke: SmokeCheck | None = None


@dataclass(frozen=True)
class AzureAppDeployment:
    """The Azure container app that runs the image."""

    name: str
    resource_group: str
    container: str | None
    environment: dict[str, str] = field(default_factory=dict)  # plain values
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> Key Vault secret URL
    identity: str | None = None  # a user-assigned identity's resource id; None: the app's own
    deployment: AppTraffic = field(default_factory=AppTraffic)


@dataclass(frozen=True)
class ContainerHealth:
    """An HTTP check run inside the container (``wget``, else ``curl``, from its image)."""

    path: str = "/health"
    port: int = 80
    timeout_seconds: int = 60


@dataclass(frozen=True)
class DockerHostDeployment:
    """The container a Docker host runs for the service: where, named what, reached how."""

    host: str  # ssh://user@host[:port][/socket] or unix:///path (checked by the loader)
    name: str
    ports: tuple[str, ...] = ()  # "HOST:CONTAINER" or "IP:HOST:CONTAINER", optional /udp
    network: str | None = None  # host, none, or a network on the host (None: the default)
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # NAME -> a file on the host
    health: ContainerHealth | None = None  # None: running a few seconds after start is healthy


@dataclass(frozen=True)
class ServiceDeployment:
    """A service as deployed to one environment: every target with its values resolved."""

    service: Service
    ecs: EcsDeployment | None = None
    lambda_: LambdaDeployment | None = None
    step_functions: StepFunctionsDeployment | None = None
    s3: S3Deployment | None = None
    azure_container_app: AzureAppDeployment | None = None
    docker_host: DockerHostDeployment | None = None
    registry: Registry | None = None  # None: the environment's registry

    @property
    def name(self) -> str:
        """The service name."""
        return self.service.name

    @property
    def needs_aws(self) -> bool:
        """True when a target is an AWS one (an ECR registry is the caller's to check)."""
        return any(t in AWS_KINDS for t in self.service.targets)


@dataclass(frozen=True)
class Environment:
    """An environment file, resolved: account, registry and the services deployed there."""

    name: str
    path: str
    registry: Registry
    deployments: Mapping[str, ServiceDeployment]
    aws: AwsAccount | None = None
    azure: AzureAccount | None = None
    vars: Mapping[str, str] = field(default_factory=dict)  # ${name} values of its templates

    def registry_of(self, dep: ServiceDeployment) -> Registry:
        """Where ``dep``'s image is pushed: its own registry, else the environment's."""
        return dep.registry or self.registry


@dataclass(frozen=True)
class Config:
    """``release.yaml`` and the environment files, validated together."""

    root: Path
    services: Mapping[str, Service]
    environments: Mapping[str, Environment]
    release_path: str = "release.yaml"
    notices: tuple[str, ...] = ()  # things worth saying that are not problems (nulls dropped)
