"""The values the control plane's parts pass between them: tasks as the runtime sees them,
deployments and services as the rollout logic keeps them. Plain data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TaskStatus = Literal["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"]
Health = Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"]
# stopCode values ECS uses (botocore's TaskStopCode)
StopCode = Literal["TaskFailedToStart", "EssentialContainerExited", "UserInitiated",
                   "ServiceSchedulerInitiated", "SpotInterruption",
                   "TerminationNotice"]


@dataclass(frozen=True)
class TaskSpec:
    """What to run: one task of a service's deployment."""

    task_arn: str
    cluster: str  # the cluster's name
    service: str  # the service's name
    deployment_id: str  # ecs-svc/NNN: the task's startedBy
    task_definition: Mapping[str, Any]  # DescribeTaskDefinition's taskDefinition
    # container name -> 127.0.0.1 port the service's listener serves it on (for networkBindings)
    host_ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerState:
    """One container of a task, as DescribeTasks reports it."""

    name: str
    image: str
    last_status: TaskStatus
    health_status: Health = "UNKNOWN"
    exit_code: int | None = None
    reason: str | None = None
    runtime_id: str | None = None  # the Docker container id


@dataclass(frozen=True)
class TaskState:
    """A task as the runtime last saw it."""

    spec: TaskSpec
    last_status: TaskStatus
    desired_status: Literal["RUNNING", "STOPPED"]
    health_status: Health
    containers: tuple[ContainerState, ...]
    created_at: float
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    netns_pid: int | None = None  # a PID inside the task's network namespace (its loopback)
    stopping_at: float | None = None  # when the stop was asked (DescribeTasks' stoppingAt)


class Runtime(Protocol):
    """Runs tasks; every call returns quickly (starting happens in the background)."""

    def start(self, spec: TaskSpec) -> None:
        """Begin running the task (pull, resolve secrets, create and start containers)."""

    def poll(self, task_arn: str) -> TaskState:
        """The task now."""

    def stop(self, task_arn: str, code: StopCode, reason: str) -> None:
        """Stop the task's containers and record why."""

    def logs(self, task_arn: str, container: str, lines: int) -> list[str]:
        """The container's last ``lines`` output lines."""

    def close(self) -> None:
        """Stop every task this runtime started (the control plane is going down)."""


@dataclass(frozen=True)
class Timing:
    """How fast the control plane moves (fast by default on the local cloud)."""

    poll_seconds: float = 0.5  # the reconcile loop's period
    health_scale: float = 0.1  # healthCheck interval/timeout/startPeriod are multiplied by it
    min_health_interval: float = 1.0  # seconds, after scaling
    failed_task_threshold: int = 3  # the circuit breaker's failed tasks (ECS: 10..200)
    task_start_timeout: float = 120.0  # a task not RUNNING by then is stopped
    # how long one ECS minute lasts here (bake times, canary and linear steps, hook timeouts)
    minute_seconds: float = 1.0
    # a container's stopTimeout and startTimeout (seconds) are multiplied by it
    container_scale: float = 0.1

    def container_seconds(self, value: float) -> float:
        """A container definition's ``value`` seconds (stopTimeout, startTimeout), here."""
        return value * self.container_scale

    def minutes(self, value: float) -> float:
        """``value`` ECS minutes, in local seconds."""
        return value * self.minute_seconds


# The rollout logic's records (release/local/ecs/rollout.py). These are mutable: rollout.create
# returns a ServiceRecord, rollout.update and rollout.step change it in place.
DeploymentStatus = Literal["PRIMARY", "ACTIVE", "INACTIVE"]
RolloutState = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]


@dataclass(frozen=True)
class StartTask:
    """Start one task of a deployment (its startedBy is the deployment id)."""

    task_arn: str
    deployment_id: str
    task_definition: str  # the task definition's ARN


@dataclass(frozen=True)
class StopTask:
    """Stop one task, saying why (DescribeTasks' stopCode and stoppedReason)."""

    task_arn: str
    code: StopCode
    reason: str


@dataclass(frozen=True)
class InvokeHook:
    """Invoke a lifecycle hook's Lambda function with ECS's payload (the plane answers with
    ``progressive.hook_answered``)."""

    deployment_id: str
    hook_id: str
    function_arn: str
    payload: Mapping[str, Any]


Action = StartTask | StopTask | InvokeHook


@dataclass(frozen=True)
class HookSpec:
    """One entry of deploymentConfiguration.lifecycleHooks."""

    target_type: Literal["AWS_LAMBDA", "PAUSE"]
    stages: tuple[str, ...]
    target_arn: str | None = None
    role_arn: str | None = None
    timeout_minutes: int = 1440
    timeout_action: Literal["ROLLBACK", "CONTINUE"] = "ROLLBACK"
    details: Any = None  # hookDetails, passed to the function as given


@dataclass
class DeploymentConfig:
    """DeploymentConfiguration of a rolling update, with its circuit breaker."""

    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = False
    rollback: bool = False
    strategy: Literal["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"] = "ROLLING"
    bake_minutes: int = 0  # bakeTimeInMinutes
    canary_percent: float = 5.0
    canary_bake_minutes: int = 10
    step_percent: float = 10.0
    step_bake_minutes: int = 6
    alarm_names: tuple[str, ...] = ()
    alarms_enabled: bool = False
    alarms_rollback: bool = False
    hooks: tuple[HookSpec, ...] = ()


@dataclass
class HookRun:
    """A lifecycle hook at the stage where it runs (DeploymentLifecycleHookDetail)."""

    hook_id: str
    spec: HookSpec
    stage: str
    expires_at: float
    status: Literal["AWAITING_ACTION", "IN_PROGRESS", "SUCCEEDED", "FAILED",
                    "TIMED_OUT"] = "IN_PROGRESS"
    next_invoke_at: float = 0.0  # a Lambda hook is invoked again after its callBackDelay
    invoking: bool = False
    details: Any = None  # hookDetails, as the function last returned them
    answer: str = ""  # why it failed, for the deployment's statusReason


@dataclass
class Progress:
    """Where a BLUE_GREEN, CANARY or LINEAR service deployment stands (release/local/ecs/
    progressive.py moves it): its lifecycle stage, the traffic the new revision takes, its
    hooks, and its ServiceDeployment status."""

    strategy: str
    blue: str | None  # the deployment that served production when it began
    stage: str
    stage_at: float
    status: str = "IN_PROGRESS"  # ServiceDeploymentStatus
    reason: str = ""
    production: float = 0.0  # percent of production traffic on the new revision
    test: float = 0.0  # percent of test traffic on the new revision
    shift_at: float | None = None  # when the next production traffic shift is due
    hooks: list[HookRun] = field(default_factory=list)
    hooks_for: str | None = None  # the hook stage whose hooks ``hooks`` are
    stages_seen: list[str] = field(default_factory=list)
    triggered: tuple[str, ...] = ()  # alarms found in ALARM
    failed_by: str | None = None  # alarm | hook | circuit breaker | user
    rollback_started_at: float | None = None
    finished_at: float | None = None


@dataclass
class DeploymentRecord:
    """One deployment (ECS's `Deployment`), with what its service deployment reports."""

    id: str  # ecs-svc/<19 digits>
    arn: str  # the service deployment's ARN (a rollback shares the failed deployment's)
    revision_arn: str  # the service revision it deploys
    task_definition: str
    created_at: float
    updated_at: float
    status: DeploymentStatus = "PRIMARY"
    rollout_state: RolloutState = "IN_PROGRESS"
    rollout_state_reason: str = ""
    desired_count: int = 0
    pending_count: int = 0
    running_count: int = 0
    failed_tasks: int = 0
    finished_at: float | None = None
    sources: tuple[str, ...] = ()  # ids of the deployments live when it began
    rollback_of: str | None = None  # the failed deployment this one rolls back
    rolled_back_to: str | None = None  # set on a failed deployment: the target's revision
    rollback_started_at: float | None = None
    progress: Progress | None = None  # of a BLUE_GREEN, CANARY or LINEAR deployment
    alarms: tuple[str, ...] = ()  # a rolling deployment's alarms found in ALARM


@dataclass
class ServiceEventRecord:
    """One ServiceEvent."""

    id: str
    created_at: float
    message: str


@dataclass
class ServiceRecord:
    """A service as the scheduler keeps it. `deployments` holds PRIMARY then ACTIVE ones;
    `history` every deployment (newest first) for the service deployment APIs."""

    cluster: str
    name: str
    arn: str
    desired_count: int
    config: DeploymentConfig = field(default_factory=DeploymentConfig)
    deployments: list[DeploymentRecord] = field(default_factory=list)
    history: list[DeploymentRecord] = field(default_factory=list)
    events: list[ServiceEventRecord] = field(default_factory=list)
    tasks: dict[str, tuple[str, TaskState | None]] = field(default_factory=dict)
    asked_at: dict[str, float] = field(default_factory=dict)  # when each start was asked
    stopping: dict[str, str] = field(default_factory=dict)  # task -> why we stopped it
    healthy_once: set[str] = field(default_factory=set)
    steady: bool = False
    threshold: int = 3  # the circuit breaker's failed-task threshold (from Timing)

    @property
    def primary(self) -> DeploymentRecord:
        """The PRIMARY deployment."""
        return self.deployments[0]
