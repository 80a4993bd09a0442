"""Step Functions state machines: the definition in the repository (``${function_arn}``
points at the service's Lambda alias), replaced when it differs from the deployed one."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from release.adapters.aws import lambda_, stepfunctions
from release.config.model import ServiceDeployment
from release.config.source import SourceError, read_source
from release.engine import rendering
from release.engine.context import Context
from release.engine.targets.base import ComparedByContent, Decision, Done, Observed, Wanted
from release.errors import ConfigError, ReleaseError
from release.planning import diff, plan, taskdef


class StepFunctions(ComparedByContent):
    """The ``step_functions`` target kind."""

    name: Final = "step_functions"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service shipping a state machine definition."""
        return dep.step_functions is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> dict[str, Any]:
        """The deployed definition."""
        return stepfunctions.current_definition(ctx.client("stepfunctions"),
                                                state_machine_arn(ctx, dep))

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Update when the rendered definition differs from the deployed one."""
        current = seen[self.name]
        desired = desired_definition(ctx, dep, seen)
        return Decision(plan.definition_step(dep.name, desired, current), current, desired)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Replace the definition."""
        if decision.step.action == "none":
            return Done()
        definition = decision.desired if decision.desired is not None else (
            desired_definition(ctx, dep, seen))
        stepfunctions.update(ctx.client("stepfunctions"), state_machine_arn(ctx, dep),
                             definition)
        return Done(updated=True, detail="definition updated")

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """The definition as a JSON diff, by path."""
        return diff.state_machine(decision.current, decision.desired, hidden=hidden)


def state_machine_arn(ctx: Context, dep: ServiceDeployment) -> str:
    """The ARN of the service's state machine in the environment's account."""
    assert dep.step_functions is not None  # noqa: S101 - callers check
    aws = ctx.env.aws
    if aws is None:
        raise ReleaseError(f"{dep.name}: step_functions needs the aws block")
    return stepfunctions.state_machine_arn(aws.region, aws.account_id,
                                           dep.step_functions.state_machine)


def desired_definition(ctx: Context, dep: ServiceDeployment, seen: Observed) -> dict[str, Any]:
    """The state machine definition, with ``${function_arn}`` pointing at our alias."""
    assert dep.step_functions is not None  # noqa: S101
    values = rendering.placeholders(ctx.env, dep.name)
    function = seen.get("lambda")
    if function is not None and dep.lambda_ is not None:
        values["function_arn"] = lambda_.alias_arn(function.arn, dep.lambda_.alias)
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


KIND = StepFunctions()
