"""``services.<name>.azure_container_app.deployment`` of an environment file: the schema
checked each field and its range; here the fields that only make sense for a canary are
checked, and the value is built. Pure: problems go through ``report(path, message, hint)``.
The smoke check has the shape of ``ecs.deployment.smoke`` (one ``SmokeCheck`` type)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from release.config.credentials import value_reason
from release.config.model import AppTraffic, SmokeCheck
from release.config.source import PathKey

Report = Callable[[PathKey, str, str], None]
CANARY_ONLY = ("percent", "interval_seconds", "smoke")


def parse(raw: Mapping[str, Any], at: PathKey, report: Report) -> AppTraffic:
    """The app's AppTraffic (``raw`` passed the schema)."""
    strategy = str(raw.get("strategy", "all_at_once"))
    for key in CANARY_ONLY:
        if key in raw and strategy != "canary":
            report((*at, key), f"{key} does not apply to strategy {strategy}",
                   "set strategy: canary, or remove it")
    smoke_raw = raw.get("smoke")
    smoke = None
    if isinstance(smoke_raw, Mapping):
        body = smoke_raw.get("body_contains")
        if isinstance(body, str) and value_reason(body):
            report((*at, "smoke", "body_contains"), "body_contains looks like a credential "
                   f"({value_reason(body)}): it would be written to the log",
                   "check for a public marker of the page instead")
        smoke = SmokeCheck(path=str(smoke_raw.get("path", "/")),
                           status=int(smoke_raw.get("status", 200)),
                           body_contains=body,
                           timeout_seconds=int(smoke_raw.get("timeout_seconds", 10)))
    return AppTraffic(strategy=cast(Any, strategy), percent=int(raw.get("percent", 10)),
                      interval_seconds=int(raw.get("interval_seconds", 60)), smoke=smoke)
