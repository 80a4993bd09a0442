"""Hostile ``ecs.deployment`` (strategy, traffic steps, bakes, alarms, lifecycle hooks, the
migration task, the smoke check): out-of-range numbers, wildcards, control characters that
could forge log lines, ARNs of other accounts, fields that do not fit the strategy. Each is
refused with exit 2, a located message and a hint, having connected nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import Case, check, ids, run

ENV = "environments/dev.yaml"
AT = "services.web.ecs.deployment"
ROLE = "arn:aws:iam::123456789012:role/ecs-hooks"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:checks"
INJECTED = "x\n::error::INJECTED"
CONTROL = "contains the control character"
INVALID = "is not a valid value"
NOT_ALLOWED = "is not allowed; use one of"


def case(name: str, deployment: dict[str, Any], message: str, field: str = AT,
         **extra: Any) -> Case:
    """A case that sets services.web.ecs.deployment in environments/dev.yaml."""
    return Case(name, message, file=ENV, field=field, set={ENV: {AT: deployment}}, **extra)


def canary(**fields: Any) -> dict[str, Any]:
    return {"strategy": "canary", **fields}


STRATEGY = [
    case("strategy-unknown", {"strategy": "big_bang"}, NOT_ALLOWED, f"{AT}.strategy"),
    case("strategy-upper-case", {"strategy": "CANARY"}, NOT_ALLOWED, f"{AT}.strategy"),
    case("strategy-forges-a-workflow-command", {"strategy": INJECTED}, NOT_ALLOWED,
         f"{AT}.strategy", environ={"GITHUB_ACTIONS": "true"}),
    case("unknown-field", {"strategy": "canary", "percent": 10}, "unknown field",
         f"{AT}.percent"),
    case("canary-percent-zero", canary(canary_percent=0), "0", f"{AT}.canary_percent"),
    case("canary-percent-over-100", canary(canary_percent=100.5), "100.5",
         f"{AT}.canary_percent"),
    case("canary-percent-negative", canary(canary_percent=-10), "-10",
         f"{AT}.canary_percent"),
    case("canary-percent-not-tenths", canary(canary_percent=12.34),
         "is not a multiple of 0.1", f"{AT}.canary_percent"),
    case("canary-percent-a-string", canary(canary_percent="10%"), "10%",
         f"{AT}.canary_percent"),
    case("canary-percent-with-linear", {"strategy": "linear", "canary_percent": 10},
         "does not apply to strategy linear", f"{AT}.canary_percent"),
    case("step-percent-under-3", {"strategy": "linear", "step_percent": 2.9}, "2.9",
         f"{AT}.step_percent"),
    case("step-percent-over-100", {"strategy": "linear", "step_percent": 101}, "101",
         f"{AT}.step_percent"),
    case("step-percent-with-canary", canary(step_percent=10),
         "does not apply to strategy canary", f"{AT}.step_percent"),
    case("step-minutes-negative", canary(step_minutes=-1), "-1", f"{AT}.step_minutes"),
    case("step-minutes-over-a-day", canary(step_minutes=1441), "1441", f"{AT}.step_minutes"),
    case("step-minutes-fraction", canary(step_minutes=1.5), "1.5", f"{AT}.step_minutes"),
    case("step-minutes-with-blue-green", {"strategy": "blue_green", "step_minutes": 1},
         "does not apply to strategy blue_green", f"{AT}.step_minutes"),
    case("bake-minutes-over-a-day", canary(bake_minutes=100000), "100000",
         f"{AT}.bake_minutes"),
    case("bake-minutes-with-rolling", {"bake_minutes": 5},
         "does not apply to strategy rolling", f"{AT}.bake_minutes"),
    case("circuit-breaker-a-string", canary(circuit_breaker="yes"), "yes",
         f"{AT}.circuit_breaker"),
]

ALARMS = [
    case("alarm-wildcard", canary(alarms=["web-*"]), INVALID, f"{AT}.alarms[0]"),
    case("alarm-question-mark", canary(alarms=["web-?"]), INVALID, f"{AT}.alarms[0]"),
    case("alarm-forges-a-workflow-command", canary(alarms=[INJECTED]), CONTROL,
         f"{AT}.alarms[0]", environ={"GITHUB_ACTIONS": "true"}),
    case("alarm-empty-name", canary(alarms=[""]), INVALID, f"{AT}.alarms[0]"),
    case("alarm-name-too-long", canary(alarms=["a" * 256]), INVALID, f"{AT}.alarms[0]"),
    case("alarms-too-many", canary(alarms=[f"a{i}" for i in range(11)]), "",
         f"{AT}.alarms"),
    case("alarms-repeated", canary(alarms=["a", "a"]), "", f"{AT}.alarms"),
    case("alarms-not-a-list", canary(alarms="web-5xx"), "web-5xx", f"{AT}.alarms"),
]

HOOK = f"{AT}.lifecycle_hooks[0]"
HOOKS = [
    case("hook-lambda-wildcard", canary(lifecycle_hooks=[
        {"lambda": "arn:aws:lambda:eu-west-1:123456789012:function:*", "role_arn": ROLE,
         "stages": ["POST_SCALE_UP"]}]), INVALID, f"{HOOK}.lambda"),
    case("hook-lambda-is-a-url", canary(lifecycle_hooks=[
        {"lambda": "https://evil.example.com/hook", "role_arn": ROLE,
         "stages": ["POST_SCALE_UP"]}]), INVALID, f"{HOOK}.lambda"),
    case("hook-lambda-forges-a-workflow-command", canary(lifecycle_hooks=[
        {"lambda": FUNCTION + "\n::error::x", "role_arn": ROLE, "stages": ["POST_SCALE_UP"]}]),
        CONTROL, f"{HOOK}.lambda"),
    case("hook-lambda-without-role", canary(lifecycle_hooks=[
        {"lambda": FUNCTION, "stages": ["POST_SCALE_UP"]}]), "needs role_arn",
        f"{HOOK}.lambda"),
    case("hook-role-of-another-account", canary(lifecycle_hooks=[
        {"lambda": FUNCTION, "role_arn": "arn:aws:iam::999999999999:role/x",
         "stages": ["POST_SCALE_UP"]}]), "is not in this environment's account",
        f"{HOOK}.role_arn"),
    case("hook-role-wildcard", canary(lifecycle_hooks=[
        {"lambda": FUNCTION, "role_arn": "arn:aws:iam::123456789012:role/*",
         "stages": ["POST_SCALE_UP"]}]), INVALID, f"{HOOK}.role_arn"),
    case("hook-both-lambda-and-pause", canary(lifecycle_hooks=[
        {"lambda": FUNCTION, "role_arn": ROLE, "pause": True, "stages": ["POST_SCALE_UP"]}]),
        "either a Lambda function or a pause", HOOK),
    case("hook-neither", canary(lifecycle_hooks=[{"stages": ["POST_SCALE_UP"]}]),
         "either a Lambda function or a pause", HOOK),
    case("hook-pause-false", canary(lifecycle_hooks=[{"pause": False,
                                                      "stages": ["POST_SCALE_UP"]}]),
         "", f"{HOOK}.pause"),
    case("hook-pause-with-role", canary(lifecycle_hooks=[
        {"pause": True, "role_arn": ROLE, "stages": ["POST_SCALE_UP"]}]),
        "role_arn is not used", f"{HOOK}.role_arn"),
    case("hook-stage-not-hookable", canary(lifecycle_hooks=[
        {"pause": True, "stages": ["BAKE_TIME"]}]), NOT_ALLOWED, f"{HOOK}.stages[0]"),
    case("hook-stage-lower-case", canary(lifecycle_hooks=[
        {"pause": True, "stages": ["post_scale_up"]}]), NOT_ALLOWED, f"{HOOK}.stages[0]"),
    case("hook-no-stages", canary(lifecycle_hooks=[{"pause": True, "stages": []}]),
         "needs at least one stage", f"{HOOK}.stages"),
    case("hook-timeout-zero", canary(lifecycle_hooks=[
        {"pause": True, "stages": ["POST_SCALE_UP"], "timeout_minutes": 0}]), "0",
        f"{HOOK}.timeout_minutes"),
    case("hook-timeout-over-a-day", canary(lifecycle_hooks=[
        {"pause": True, "stages": ["POST_SCALE_UP"], "timeout_minutes": 1441}]), "1441",
        f"{HOOK}.timeout_minutes"),
    case("hook-timeout-action-unknown", canary(lifecycle_hooks=[
        {"pause": True, "stages": ["POST_SCALE_UP"], "timeout_action": "ignore"}]), NOT_ALLOWED,
        f"{HOOK}.timeout_action"),
    case("hooks-with-rolling", {"lifecycle_hooks": [{"pause": True,
                                                     "stages": ["POST_SCALE_UP"]}]},
         "does not apply to strategy rolling", f"{AT}.lifecycle_hooks"),
]

TASK = f"{AT}.before_traffic.run_task"
GATES = [
    case("run-task-empty-command", canary(before_traffic={"run_task": {"command": []}}), "",
         f"{TASK}.command"),
    case("run-task-command-a-string", canary(before_traffic={"run_task": {
        "command": "rm -rf /"}}), "rm -rf /", f"{TASK}.command"),
    case("run-task-command-forges-a-workflow-command", canary(before_traffic={"run_task": {
        "command": ["migrate", "\n::error::INJECTED"]}}), CONTROL, f"{TASK}.command[1]",
        environ={"GITHUB_ACTIONS": "true"}),
    case("run-task-command-escape", canary(before_traffic={"run_task": {
        "command": ["\x1b[31mred"]}}), CONTROL, f"{TASK}.command[0]"),
    case("run-task-container-path", canary(before_traffic={"run_task": {
        "command": ["migrate"], "container": "../web"}}), INVALID, f"{TASK}.container"),
    case("run-task-container-wildcard", canary(before_traffic={"run_task": {
        "command": ["migrate"], "container": "*"}}), INVALID, f"{TASK}.container"),
    case("run-task-timeout-zero", canary(before_traffic={"run_task": {
        "command": ["migrate"], "timeout_seconds": 0}}), "0", f"{TASK}.timeout_seconds"),
    case("run-task-timeout-over-a-day", canary(before_traffic={"run_task": {
        "command": ["migrate"], "timeout_seconds": 86401}}), "86401",
        f"{TASK}.timeout_seconds"),
    case("run-task-unknown-field", canary(before_traffic={"run_task": {
        "command": ["migrate"], "privileged": True}}), "unknown field", f"{TASK}.privileged"),
    case("smoke-path-relative", canary(smoke={"path": "health"}), INVALID,
         f"{AT}.smoke.path"),
    case("smoke-path-absolute-url", canary(smoke={"path": "http://169.254.169.254/"}),
         INVALID, f"{AT}.smoke.path"),
    case("smoke-path-with-space", canary(smoke={"path": "/a b"}), INVALID,
         f"{AT}.smoke.path"),
    case("smoke-path-forges-a-workflow-command", canary(smoke={"path": "/\n::error::x"}),
         CONTROL, f"{AT}.smoke.path"),
    case("smoke-status-99", canary(smoke={"status": 99}), "99", f"{AT}.smoke.status"),
    case("smoke-status-600", canary(smoke={"status": 600}), "600", f"{AT}.smoke.status"),
    case("smoke-body-with-control", canary(smoke={"body_contains": "ok\r\n::error::x"}),
         CONTROL, f"{AT}.smoke.body_contains"),
    case("smoke-body-too-long", canary(smoke={"body_contains": "x" * 1025}), "",
         f"{AT}.smoke.body_contains"),
    case("smoke-timeout-zero", canary(smoke={"timeout_seconds": 0}), "0",
         f"{AT}.smoke.timeout_seconds"),
    case("smoke-timeout-over-5-minutes", canary(smoke={"timeout_seconds": 301}), "301",
         f"{AT}.smoke.timeout_seconds"),
]

SMOKE = f"{AT}.smoke"
URL = f"{SMOKE}.url"
CREDENTIALS = "carries credentials"
PRIVATE = "a private or link-local address"
NOT_A_NAME = "is not a DNS name"


def smoke_url(url: str, **fields: Any) -> dict[str, Any]:
    return canary(smoke={"path": "/health", "url": url, **fields})


SMOKE_URL = [
    case("smoke-url-with-password", smoke_url("https://user:hunter2@web.example.com/"),
         CREDENTIALS, URL),
    case("smoke-url-with-user", smoke_url("https://deploy@web.example.com/"), CREDENTIALS,
         URL),
    case("smoke-url-backslash-userinfo", smoke_url("http://evil.example.com\\@web.example.com/"),
         CREDENTIALS, URL),
    case("smoke-url-instance-metadata", smoke_url("http://169.254.169.254/latest/meta-data/"),
         PRIVATE, URL),
    case("smoke-url-private-ip", smoke_url("http://10.0.0.5:8080/"), PRIVATE, URL),
    case("smoke-url-ipv4-mapped-metadata", smoke_url("http://[::ffff:a9fe:a9fe]/"), PRIVATE,
         URL),
    case("smoke-url-ipv6-metadata", smoke_url("http://[fd00:ec2::254]/"), PRIVATE, URL),
    case("smoke-url-decimal-ip", smoke_url("http://167772161/"), NOT_A_NAME, URL),
    case("smoke-url-short-ip", smoke_url("http://10.1/"), NOT_A_NAME, URL),
    case("smoke-url-hex-ip", smoke_url("http://0xa9fea9fe/"), NOT_A_NAME, URL),
    case("smoke-url-percent-encoded-host", smoke_url("http://%31%30.0.0.5/"), NOT_A_NAME, URL),
    case("smoke-url-underscore-host", smoke_url("http://a_b.example.com/"), NOT_A_NAME, URL),
    case("smoke-url-file-scheme", smoke_url("file:///etc/passwd"), INVALID, URL),
    case("smoke-url-javascript", smoke_url("javascript:alert(1)"), INVALID, URL),
    case("smoke-url-relative", smoke_url("/health"), INVALID, URL),
    case("smoke-url-no-host", smoke_url("https:///health"), "not an absolute http(s) URL",
         URL),
    case("smoke-url-forges-a-workflow-command", smoke_url("https://a.example.com/\n::error::x"),
         CONTROL, URL, environ={"GITHUB_ACTIONS": "true"}),
    case("smoke-url-with-space", smoke_url("https://a.example.com/a b"), INVALID, URL),
    case("smoke-url-non-ascii-host", smoke_url("https://ex\u00e4mple.com/"), INVALID, URL),
    case("smoke-url-query-token", smoke_url("https://a.example.com/?token=s3cret"),
         "has a query or fragment", URL),
    case("smoke-url-fragment", smoke_url("https://a.example.com/#x"), "has a query or fragment",
         URL),
    case("smoke-url-port-out-of-range", smoke_url("https://a.example.com:99999/"),
         "is not a valid URL", URL),
    case("smoke-url-port-zero", smoke_url("https://a.example.com:0/"), "has port 0", URL),
    case("smoke-url-too-long", smoke_url("https://a.example.com/" + "a" * 2048), "", URL),
    case("smoke-host-header-without-url", canary(smoke={"host_header": "web.example.com"}),
         "goes with smoke.url", f"{SMOKE}.host_header"),
    case("smoke-host-header-with-port", smoke_url("https://nlb.example.com",
                                                  host_header="web.example.com:443"),
         INVALID, f"{SMOKE}.host_header"),
    case("smoke-host-header-wildcard", smoke_url("https://nlb.example.com",
                                                 host_header="*.example.com"),
         INVALID, f"{SMOKE}.host_header"),
    case("smoke-host-header-forges-a-header", smoke_url(
        "https://nlb.example.com", host_header="web.example.com\r\nCookie: x"), CONTROL,
        f"{SMOKE}.host_header"),
]

ALLOWED = [
    case("canary-with-every-gate-is-allowed", canary(
        canary_percent=12.5, step_minutes=5, bake_minutes=10, alarms=["web-5xx"],
        lifecycle_hooks=[{"lambda": FUNCTION, "role_arn": ROLE, "stages": ["POST_SCALE_UP"]},
                         {"pause": True, "stages": ["POST_TEST_TRAFFIC_SHIFT"]}],
        before_traffic={"run_task": {"command": ["python", "manage.py", "migrate"]}},
        smoke={"path": "/health", "status": 200, "body_contains": "ok"}), "", exit=0),
    case("smoke-url-and-host-header-are-allowed", smoke_url(
        "https://internal-nlb-1.elb.eu-west-1.amazonaws.com:8443/v1",
        host_header="web.example.com"), "", exit=0),
    case("smoke-url-on-loopback-is-allowed", smoke_url("http://127.0.0.1:15810"), "",
         exit=0),
    case("rolling-with-smoke-and-alarms-is-allowed", {"alarms": ["web-5xx"],
                                                      "smoke": {"path": "/"}}, "", exit=0),
]

CASES = [*STRATEGY, *ALARMS, *HOOKS, *GATES, *SMOKE_URL, *ALLOWED]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_ecs_deployment_is_refused(case: Case, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
