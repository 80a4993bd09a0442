"""Hostile values of a service's ``lambda.deployment`` (the Lambda canary / linear config):
out-of-range shares and intervals, an unknown strategy, alarm names with wildcards or
control characters, a smoke payload holding a credential (never printed) or too large, a
smoke expectation with control characters. Each is refused by `release validate` with the
file, the line and the field, and a hint; a good one is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import Case, check, check_no_injected_commands, ids, run

ENV = "environments/dev.yaml"
AT = "services.worker.lambda.deployment"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example


def case(name: str, field: str, value: Any, message: str, **extra: Any) -> Case:
    """A case that sets ``lambda.deployment.<field>`` of the worker in dev."""
    return Case(name, message, file=ENV, field=f"{AT}.{field}",
                set={ENV: {f"{AT}.{field}": value}}, **extra)


def alarm(name: str, value: str, message: str) -> Case:
    """A case whose first alarm name is ``value``."""
    return Case(name, message, file=ENV, field=f"{AT}.alarms[0]",
                set={ENV: {f"{AT}.alarms": [value]}})


CASES = [
    case("percent-zero", "percent", 0, "must be at least 1"),
    case("percent-all", "percent", 100, "must be at most 99"),
    case("percent-as-text", "percent", "10%", "expected a whole number"),
    case("interval-negative", "interval_seconds", -1, "must be at least 0"),
    case("interval-a-day", "interval_seconds", 86400, "must be at most 3600"),
    case("strategy-unknown", "strategy", "blue_green", "is not allowed; use one of"),
    alarm("alarm-wildcard", "errors-*", "is not a valid value here"),
    alarm("alarm-control-characters", "errors\n::error::forged",
          "contains the control character"),
    alarm("alarm-name-too-long", "a" * 256, "is not a valid value here"),
    case("smoke-without-payload", "smoke", {"expect_contains": "ok"}, "payload"),
    Case("smoke-expect-control-characters", "contains the control character", file=ENV,
         field=f"{AT}.smoke.expect_contains",
         set={ENV: {f"{AT}.smoke": {"payload": {}, "expect_contains": "ok\x1b[2J"}}}),
    Case("smoke-payload-holds-a-secret", "plaintext credential", file=ENV,
         field=f"{AT}.smoke.payload.key",
         set={ENV: {f"{AT}.smoke": {"payload": {"key": SECRET_KEY}}}}, secret=SECRET_KEY),
    Case("smoke-payload-too-large", "over 256 KB", file=ENV, field=f"{AT}.smoke.payload",
         set={ENV: {f"{AT}.smoke": {"payload": {"blob": "x" * (300 * 1024)}}}}),
    case("unknown-key", "canary_percent", 10, "canary_percent"),
    Case("a-canary-with-gates-is-accepted", "", exit=0, set={ENV: {AT: {
        "strategy": "canary", "percent": 10, "interval_seconds": 60,
        "alarms": ["quetzal-errors", "quetzal throttles (p99)"],
        "smoke": {"payload": {"input": "sample"}, "expect_contains": "score"}}}}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_lambda_deployment(case: Case, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    check_no_injected_commands(case, outcome)
