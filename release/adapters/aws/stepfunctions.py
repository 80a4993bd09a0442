"""Step Functions: replace a state machine's definition when it differs."""

from __future__ import annotations

import json
from typing import Any

from release.adapters.aws.clients import explain


def state_machine_arn(region: str, account_id: str, name: str) -> str:
    """The ARN of a standard state machine."""
    return f"arn:aws:states:{region}:{account_id}:stateMachine:{name}"


def current_definition(sfn: Any, arn: str) -> dict[str, Any]:
    """The definition the state machine has now."""
    try:
        found = sfn.describe_state_machine(stateMachineArn=arn)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"read state machine {arn}") from None
    definition: dict[str, Any] = json.loads(found["definition"])
    return definition


def update(sfn: Any, arn: str, definition: dict[str, Any]) -> None:
    """Replace the definition."""
    try:
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"update state machine {arn}") from None
