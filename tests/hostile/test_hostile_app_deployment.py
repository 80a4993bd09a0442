"""Hostile values of a service's ``azure_container_app.deployment`` (the container-app
canary): out-of-range shares and intervals, an unknown strategy, canary fields on
all_at_once, smoke paths that leave the revision's URL or carry control characters, a
smoke status out of range, a body_contains holding a credential (never printed). Each is
refused by `release validate` with the file, the line and the field, and a hint; a good
one is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import Case, check, check_no_injected_commands, ids, run

ENV = "environments/dev.yaml"
AT = "services.batch.azure_container_app.deployment"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example


def case(name: str, field: str, value: Any, message: str, **extra: Any) -> Case:
    """A canary whose ``<field>`` is ``value``."""
    return Case(name, message, file=ENV, field=f"{AT}.{field}",
                set={ENV: {AT: {"strategy": "canary"}, f"{AT}.{field}": value}}, **extra)


def smoke(name: str, value: dict[str, Any], field: str, message: str, **extra: Any) -> Case:
    """A canary whose smoke check is ``value``."""
    return Case(name, message, file=ENV, field=f"{AT}.smoke.{field}",
                set={ENV: {AT: {"strategy": "canary", "smoke": value}}}, **extra)


CASES = [
    case("percent-zero", "percent", 0, "must be at least 1"),
    case("percent-all", "percent", 100, "must be at most 99"),
    case("percent-as-text", "percent", "10%", "expected a whole number"),
    case("percent-fraction", "percent", 12.5, "expected a whole number"),
    case("interval-negative", "interval_seconds", -1, "must be at least 0"),
    case("interval-a-day", "interval_seconds", 86400, "must be at most 3600"),
    case("strategy-unknown", "strategy", "linear", "is not allowed; use one of"),
    Case("percent-without-canary", "does not apply to strategy all_at_once", file=ENV,
         field=f"{AT}.percent", set={ENV: {AT: {"percent": 10}}}),
    Case("smoke-without-canary", "does not apply to strategy all_at_once", file=ENV,
         field=f"{AT}.smoke", set={ENV: {AT: {"strategy": "all_at_once",
                                               "smoke": {"path": "/"}}}}),
    smoke("smoke-path-absolute-url", {"path": "http://169.254.169.254/latest"}, "path",
          "is not a valid value here"),
    smoke("smoke-path-relative", {"path": "health"}, "path", "is not a valid value here"),
    smoke("smoke-path-control-characters", {"path": "/health\n::error::forged"}, "path",
          "contains the control character"),
    smoke("smoke-path-space", {"path": "/a b"}, "path", "is not a valid value here"),
    smoke("smoke-status-out-of-range", {"status": 700}, "status", "must be at most 599"),
    smoke("smoke-timeout-zero", {"timeout_seconds": 0}, "timeout_seconds",
          "must be at least 1"),
    smoke("smoke-body-control-characters", {"body_contains": "ok\x1b[2J"}, "body_contains",
          "contains the control character"),
    smoke("smoke-body-holds-a-secret", {"body_contains": SECRET_KEY}, "body_contains",
          "looks like a credential", secret=SECRET_KEY),
    smoke("smoke-unknown-key", {"url": "http://example.com"}, "url", "url"),
    Case("a-canary-with-a-smoke-check-is-accepted", "", exit=0, set={ENV: {AT: {
        "strategy": "canary", "percent": 10, "interval_seconds": 30,
        "smoke": {"path": "/health", "status": 200, "body_contains": "ok",
                  "timeout_seconds": 20}}}}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_app_deployment(case: Case, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    check_no_injected_commands(case, outcome)
