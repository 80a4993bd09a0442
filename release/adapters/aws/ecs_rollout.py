"""Roll a service out to a task definition, wait for OUR deployment, and recover on failure.

Used by ``deploy`` (new revision), ``rollback`` (an older one) and ``redeploy`` (the same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from release.adapters.aws import ecs
from release.adapters.aws.ecs_watch import RolloutFailedError, RolloutWatcher
from release.errors import ReleaseError
from release.planning import rollout


@dataclass(frozen=True)
class Target:
    """One ECS service and how long its rollout may take."""

    cluster: str
    service: str
    deadline_seconds: float
    desired_count: int | None = None
    configuration: dict[str, Any] | None = None  # UpdateService's deploymentConfiguration


@dataclass(frozen=True)
class Before:
    """What ran before we started: the revision to restore, and who rolls back."""

    arn: str | None
    circuit_breaker_rollback: bool


@dataclass(frozen=True)
class Rollouts:
    """Starts rollouts on one ECS client and waits for them through one shared watcher."""

    client: Any
    watcher: RolloutWatcher
    log: Callable[[str], None] = lambda _line: None
    logs: Callable[[], Any] | None = None  # CloudWatch Logs, for a failed task's last lines

    def roll_out(self, target: Target, arn: str, before: Before) -> dict[str, Any]:
        """UpdateService to ``arn``, wait for our deployment; return the service's description.

        On failure raise ``RolloutFailedError`` naming the last events and stopped tasks,
        after putting ``before.arn`` back unless the circuit breaker does that itself.
        """
        started = ecs.start_rollout(self.client, target.cluster, target.service, arn,
                                    target.desired_count, configuration=target.configuration)
        self.log(f"{target.service}: deployment {started.deployment_id} of "
                 f"{rollout.revision(arn)} started, waiting for it")
        try:
            return self.watcher.wait(target.cluster, target.service, started.deployment_id,
                                     arn, target.deadline_seconds)
        except RolloutFailedError as failed:
            raise self._recover(target, arn, before, failed) from None

    def _recover(self, target: Target, arn: str, before: Before,
                 failed: RolloutFailedError) -> RolloutFailedError:
        details = ecs.failure_details(self.client, target.cluster, target.service,
                                      failed.service, logs=self.logs)
        decision = rollout.recover(failed.kind,
                                   circuit_breaker_rollback=before.circuit_breaker_rollback,
                                   previous_arn=before.arn, our_arn=arn,
                                   running_arn=str(failed.service.get("taskDefinition", "")))
        if decision.action != "restore" or before.arn is None:
            return RolloutFailedError(f"{failed.message}; {decision.message}", details,
                                      kind=failed.kind, service=failed.service)
        previous = rollout.revision(before.arn)
        self.log(f"{target.service}: rollout failed, putting {previous} back")
        try:
            self.roll_out(target, before.arn, Before(None, before.circuit_breaker_rollback))
        except ReleaseError as again:
            return RolloutFailedError(
                f"{failed.message}; rollback to {previous} failed too: {again.message}",
                f"{details}\nthe service may run neither revision: check it in the ECS "
                "console and run `release rollback` once the cause is fixed",
                kind=failed.kind, service=failed.service)
        number = rollout.revision_number(before.arn)
        error = RolloutFailedError(f"{failed.message}; rolled back to revision {number}",
                                   details, kind=failed.kind, service=failed.service)
        error.rolled_back_to = previous
        return error
