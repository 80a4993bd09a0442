"""CloudWatch alarms a release watches (the Lambda canary's alarm gate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from release.adapters.aws.clients import explain

MAX_NAMES = 100  # DescribeAlarms takes at most 100 AlarmNames


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """Alarm name -> StateValue (OK, ALARM, INSUFFICIENT_DATA) of the alarms named that
    exist (metric and composite alarms alike)."""
    states: dict[str, str] = {}
    try:
        for start in range(0, len(names), MAX_NAMES):
            pages = cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNames=list(names[start:start + MAX_NAMES]),
                AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    states[str(alarm["AlarmName"])] = str(alarm["StateValue"])
    except Exception as exc:  # noqa: BLE001 - botocore errors become user messages
        raise explain(exc, "read CloudWatch alarms") from None
    return states
