"""release.config.credentials: which names and values are plaintext credentials; and
release.config.plaintext: the allow-plaintext comment that keeps a reviewed exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release.config import plaintext
from release.config.credentials import (
    find_in_args,
    find_secret,
    looks_random,
    looks_secret,
    secrets_hint,
    variable_for,
    words_of,
)
from release.config.source import parse_source, read_source
from release.config.template import check_task_template

FLAGGED = [
    ("AWS_ACCESS_KEY_ID", "anything", "AWS credential"),
    ("AWS_SECRET_ACCESS_KEY", "x", "AWS credential"),
    ("AWS_SESSION_TOKEN", "x", "AWS credential"),
    ("aws_access_key_id", "x", "AWS credential"),
    ("API_KEY", "x", "*_KEY"),
    ("STRIPE_SECRET_KEY", "x", "SECRET"),
    ("api-key", "x", "*_KEY"),
    ("DB_PASSWORD", "x", "PASSWORD"),
    ("db-password", "x", "PASSWORD"),
    ("PASSWORD", "x", "PASSWORD"),
    ("SMTP_PASSWD", "x", "PASSWD"),
    ("GITHUB_TOKEN", "x", "TOKEN"),
    ("SLACK_TOKEN_VALUE", "x", "TOKEN"),
    ("CLIENT_SECRET", "x", "SECRET"),
    ("APP_SECRETS", "x", "SECRET"),
    ("DB_CREDENTIALS", "x", "CREDENTIAL"),
    ("GREETING", "AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
    ("UPLOAD_URL", "https://AKIAIOSFODNN7EXAMPLE@bucket", "AWS access key id"),
    ("STS_ID", "ASIAIOSFODNN7EXAMPLE", "AWS access key id"),
    ("TLS", "-----BEGIN RSA PRIVATE KEY-----\nMII...", "private key"),
    ("TLS", "-----BEGIN PRIVATE KEY-----\nMII...", "private key"),
    # names the first version let through
    ("DB_PASS", "x", "(PASS)"),
    ("DB_PWD", "x", "(PWD)"),
    ("APIKEY", "x", "(APIKEY)"),
    ("stripeApiKey", "x", "*_KEY"),
    ("dbPassword", "x", "PASSWORD"),
    ("DBPassword", "x", "PASSWORD"),
    ("spring.datasource.password", "x", "PASSWORD"),
    ("AUTHTOKEN", "x", "TOKEN"),
    ("CLIENTSECRET", "x", "SECRET"),
    ("API_KEY_V2", "x", "*_KEY"),
    ("PRIVATE_KEY", "x", "*_KEY"),
    ("SECRET_KEY_BASE", "x", "SECRET"),
    ("GITHUB_CREDS", "x", "CREDENTIAL"),
    ("GPG_PASSPHRASE", "x", "PASSPHRASE"),
    ("SESSION_SALT", "Zq8Vn3kLx0pZr7Tw2Yb5", "suggests a credential (SESSION)"),
    ("GOOGLE_APPLICATION_CREDENTIALS", '{"private_key": "abc"}', "CREDENTIAL"),
    # values under harmless names
    ("HEALTH", "curl -fsS -u admin:hunter22 https://example.com", "user:password"),
    ("HEALTH", "curl --user=admin:hunter22 https://example.com", "user:password"),
    ("DSN", "host=db user=app password=hunter22", "sets password"),
    ("CONN", "Server=db;Password=hunter22;", "sets Password"),
    ("CFG", '{"token": "abcdef123456"}', "sets token"),
    ("FEED", "https://example.com/feed?access_token=abcdef123456", "sets access_token"),
]

NOT_FLAGGED = [
    ("TOKENIZER_PATH", "/models/tokenizer.json"),
    ("MAX_TOKENS", "4096"),
    ("NUM_TOKENS", "10"),
    ("LOG_LEVEL", "info"),
    ("MODEL_PATH", "s3://models/detector/v3/model.onnx"),
    ("DETECTION_THRESHOLD", "0.5"),
    ("KEY", "primary"),
    ("KEYBOARD_LAYOUT", "us"),
    ("MONKEY", "patch"),
    ("TURKEY_ID", "3"),
    ("SECRETARY_EMAIL", "a@b.c"),
    ("PASSWORDLESS_LOGIN", "true"),
    ("AWS_REGION", "eu-west-1"),
    ("AWS_DEFAULT_REGION", "eu-west-1"),
    ("CERT", "-----BEGIN CERTIFICATE-----\nMII..."),
    ("SHORT", "AKIA1234"),
    ("LOWER", "akiaiosfodnn7example"),
    ("DATA_URL", "http://data.dev.internal/predictions/latest.json"),
    ("PWD", "/app"),
    ("OLDPWD", "/"),
    ("PASS_RATE", "0.9"),
    ("BYPASS_CACHE", "true"),
    ("DB_PASSWORD_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:db"),
    ("DB_PASSWORD", "arn:aws:ssm:eu-west-1:1:parameter/db"),
    ("API_TOKEN", "${API_TOKEN}"),
    ("API_TOKEN", "$API_TOKEN"),
    ("DB_PASSWORD", ""),
    ("REQUIRE_PASSWORD", "true"),
    ("TOKEN_TTL", "3600"),
    ("MAX_TOKEN_COUNT", "100"),
    ("PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"),
    ("PARTITION_KEY", "tenant_id"),
    ("KMS_KEY_ID", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("AUTH_CLIENT_ID", "4k8qn3l3ov1oc6d0f9s7slm2n1"),
    ("SESSION_NAME", "release-deploy-2024"),
    ("AUTH_PROVIDER", "cognito"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/var/secrets/google/key.json"),
    ("JAVA_OPTS", "-Dpassword.policy=strict -Dtoken.ttl=60"),
    ("CMD", "app --password-file /run/secrets/db --max-tokens 10"),
    ("DSN", "postgres://app:$DB_PASSWORD@db/app"),
    ("DSN", "postgres://app:****@db/app"),
    ("IMAGE", "nginx@sha256:" + "ab" * 32),
    ("HEALTH", "curl -u admin:$ADMIN_PASSWORD https://example.com"),
    ("HEALTH", "curl -u admin https://example.com"),
]


@pytest.mark.parametrize(("name", "value", "why"), FLAGGED)
def test_flagged(name: str, value: str, why: str) -> None:
    reason = looks_secret(name, value)
    assert reason is not None
    assert why in reason
    assert name in reason


@pytest.mark.parametrize(("name", "value"), NOT_FLAGGED)
def test_not_flagged(name: str, value: str) -> None:
    assert looks_secret(name, value) is None


def test_secrets_hint_shows_the_yaml_to_write() -> None:
    hint = secrets_hint("autovision", "DB_PASSWORD", "eu-west-1", "111111111111", "dev")
    assert "secrets:" in hint
    assert ("DB_PASSWORD: arn:aws:ssm:eu-west-1:111111111111:parameter/dev/autovision/"
            "db-password") in hint
    lines = hint.splitlines()
    assert lines[1:5] == ["  services:", "    autovision:", "      ecs:", "        secrets:"]


@pytest.mark.parametrize(("name", "words"), [
    ("DB_PASS", ("DB", "PASS")),
    ("db-pass", ("DB", "PASS")),
    ("db.pass", ("DB", "PASS")),
    ("dbPass", ("DB", "PASS")),
    ("DBPass", ("DB", "PASS")),
    ("stripeApiKey", ("STRIPE", "API", "KEY")),
    ("OAuth2Token", ("O", "AUTH", "2", "TOKEN")),
    ("com.acme.api-key", ("COM", "ACME", "API", "KEY")),
])
def test_words_of_a_name(name: str, words: tuple[str, ...]) -> None:
    assert words_of(name) == words


def test_reasons_never_show_the_value() -> None:
    value = "ghp_" + "Ab1" * 12
    for name in ("NOTES", "DB_PASSWORD", "SESSION_SALT"):
        reason = find_secret(name, value)
        assert reason is not None
        assert value not in reason
    assert "hunter22" not in str(find_secret("OPTS", "-Dx.password=hunter22"))


def test_a_random_string_is_not_shown_as_a_setting_name() -> None:
    # base64 ends in '=': what stands before one may be a secret, not a setting's name
    assert "Zq8Vn3kLx0pZr7Tw2Yb5" not in str(
        find_secret("OPTS", "--Zq8Vn3kLx0pZr7Tw2Yb5Password=abc12345"))


@pytest.mark.parametrize(("value", "random"), [
    ("Zq8Vn3kLx0pZr7Tw2Yb5", True),
    ("3f9a0c1e77b24d5e8a6c0b1d2e3f4a5b", True),
    ("detectorv3model2024", False),
    ("ExampleCorpProduction01", False),
    ("1234567890123456", False),
    ("6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21", False),
    ("short1A", False),
])
def test_looks_random(value: str, random: bool) -> None:
    assert looks_random(value) is random


@pytest.mark.parametrize(("args", "found"), [
    (["gunicorn", "app", "--db-password", "hunter22"], [(3, "follows --db-password")]),
    (["app", "--password=hunter22"], [(1, "sets password")]),
    (["sh", "-c", "API_TOKEN=abcdef123 ./run"], [(2, "sets API_TOKEN")]),
    (["sh", "-c", "curl https://u:hunter22@example.com"], [(2, "a URL with a password")]),
    (["run", "--token", "$API_TOKEN"], []),
    (["run", "--password-file", "/run/secrets/pw"], []),
    (["run", "--max-tokens", "100", "--pass-through"], []),
    (["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/health || exit 1"], []),
    (["run", 3, None], []),
])
def test_find_in_args(args: list[Any], found: list[tuple[int, str]]) -> None:
    got = find_in_args(args)
    assert [index for index, _ in got] == [index for index, _ in found]
    for (_, reason), (_, text) in zip(got, found, strict=True):
        assert text in reason


def test_variable_for() -> None:
    assert variable_for("--db-password") == "DB_PASSWORD"
    assert variable_for("com.acme.api-key") == "COM_ACME_API_KEY"
    assert variable_for("--") == "SECRET"


# --- the allow-plaintext comment ------------------------------------------------------------

@pytest.mark.parametrize(("line", "reason"), [
    ("  X: abc  # release: allow-plaintext (public client id)", "public client id"),
    ("  X: abc  # release: allow-plaintext - shown in the login page", "shown in the login page"),
    ("  X: abc  # release: allow-plaintext: test fixture", "test fixture"),
    ("  X: abc  #release:allow-plaintext(public)", "public"),
    ("  X: abc  # release: allow-plaintext", ""),
    ("  X: abc  # release: allow-plaintext ()", ""),
    ("  X: abc  # release: allow-plaintext (-)", ""),
    ("  X: abc  # release: allow-plaintext because", ""),
])
def test_allowance(line: str, reason: str) -> None:
    found = plaintext.allowance(line, "abc")
    assert found is not None
    assert found.reason == reason


@pytest.mark.parametrize("line", [
    "  X: abc",
    "  X: abc  # public client id",
    "  X: abc#release: allow-plaintext (no space before the #: part of the value)",
])
def test_no_allowance(line: str) -> None:
    assert plaintext.allowance(line, "abc") is None


def test_a_marker_inside_the_value_is_no_comment() -> None:
    value = "abc # release: allow-plaintext (x)"
    assert plaintext.allowance(f'  X: "{value}"', value) is None


ENV_YAML = b"""name: dev
services:
  web:
    ecs:
      environment:
        A_TOKEN: abcdef123  # release: allow-plaintext (test fixture, revoked)
        B_TOKEN: abcdef123  # release: allow-plaintext
        C_TOKEN: abcdef123
"""


@pytest.mark.parametrize("anchors", [False, True], ids=["quick-parse", "located-parse"])
def test_problem_honours_the_comment(tmp_path: Path, anchors: bool) -> None:
    text = ENV_YAML + (b"x: &a 1\ny: *a\n" if anchors else b"")
    (tmp_path / "dev.yaml").write_bytes(text)
    source = read_source(tmp_path, "dev.yaml")
    assert (source.text is None) is anchors
    at = ("services", "web", "ecs", "environment")
    found = {key: plaintext.problem(source, tmp_path, (*at, key), value="abcdef123",
                                    why="w", hint="h")
             for key in ("A_TOKEN", "B_TOKEN", "C_TOKEN")}
    assert found["A_TOKEN"] is None
    b_token, c_token = found["B_TOKEN"], found["C_TOKEN"]
    assert b_token is not None
    assert c_token is not None
    assert (b_token.line, c_token.line) == (7, 8)
    assert "gives no reason" in b_token.message
    assert "gives no reason" not in c_token.message
    assert "allow-plaintext (why it is not a secret)" in str(c_token.hint)


def test_build_arg_problems() -> None:
    source = parse_source(b"""version: 1
defaults:
  build_args:
    NPM_TOKEN: abc123def
services:
  web:
    context: .
    build_args:
      BASE: python:3.12
      DB_PASS: abc123def  # release: allow-plaintext (a throwaway test database)
      GH: ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1
    lambda: {}
""", "release.yaml")
    defaults = plaintext.build_arg_problems(source, Path(), ("defaults", "build_args"), "<service>")
    own = plaintext.build_arg_problems(source, Path(), ("services", "web", "build_args"), "web")
    assert [(p.line, p.field) for p in defaults] == [(4, "defaults.build_args.NPM_TOKEN")]
    assert [(p.line, p.field) for p in own] == [(11, "services.web.build_args.GH")]
    assert "RUN --mount=type=secret,id=gh" in str(own[0].hint)
    assert "ecs:" not in str(own[0].hint)  # a Lambda service: no ecs.secrets to show
    assert "ecs:" in str(defaults[0].hint)


# --- the task definition template -----------------------------------------------------------

def template_problems(container: dict[str, Any],
                      allowed: dict[str, str] | None = None) -> list[tuple[str, str]]:
    data = {"containerDefinitions": [{"name": "web", "image": "x", **container}]}
    source = parse_source(json.dumps(data, indent=2).encode(), "task.json")
    return [(p.field, p.message) for p in check_task_template(source, None, allowed)]


@pytest.mark.parametrize(("container", "field", "text"), [
    ({"environment": [{"name": "DB_PWD", "value": "x1"}]},
     "containerDefinitions[0].environment[0]", "(PWD)"),
    ({"command": ["app", "--db-password", "hunter22"]},
     "containerDefinitions[0].command[2]", "follows --db-password"),
    ({"entryPoint": ["sh", "-c", "exec app postgres://a:hunter22@db/app"]},
     "containerDefinitions[0].entryPoint[2]", "a URL with a password"),
    ({"healthCheck": {"command": ["CMD-SHELL", "curl -H 'X-Api-Key: abcdef123456' x"]}},
     "containerDefinitions[0].healthCheck.command[1]", "sets X-Api-Key"),
    ({"dockerLabels": {"ci.token": "abcdef123"}},
     "containerDefinitions[0].dockerLabels.ci.token", "(TOKEN)"),
    ({"logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": "abcdef123"}}},
     "containerDefinitions[0].logConfiguration.options.splunk-token", "(TOKEN)"),
])
def test_template_credentials(container: dict[str, Any], field: str, text: str) -> None:
    found = template_problems(container)
    assert [f for f, _ in found] == [field]
    assert text in found[0][1]
    assert "hunter22" not in found[0][1]


def test_template_allow_list() -> None:
    container = {"command": ["app", "--db-password", "hunter22"],
                 "dockerLabels": {"ci.token": "abcdef123"}}
    assert len(template_problems(container, {})) == 2
    kept = {"containerDefinitions[0].command[2]": "a test fixture"}
    assert [f for f, _ in template_problems(container, kept)] == [
        "containerDefinitions[0].dockerLabels.ci.token"]


def test_template_command_shapes_are_tolerated() -> None:
    assert template_problems({"command": "app --password=hunter22"}) != []
    assert template_problems({"command": {"a": 1}, "dockerLabels": ["x"]}) == []


def test_names_are_shown_safely() -> None:
    # a template's names are not checked by a schema: a line break could forge a log line
    assert "\n" not in str(find_secret("A\n::error::x_TOKEN", "abcdef"))
    token = "ghp_" + "a1B2" * 9
    reason = find_secret(token, token)
    assert reason is not None
    assert token not in reason
