"""Plaintext credentials wherever a value ends up in an image, a task definition or a function.

Each case commits one credential (a fake, made up here) where a careless or hostile change
would put it: the ECS and Lambda environment of an environment file, a build arg (the
defaults or a service's own), and a container of the task definition template (its
environment, command, entry point, health check, labels, log options). ``validate`` must
refuse it with file:line, the field and a hint, and never print the value itself.

An ``# release: allow-plaintext (reason)`` comment on the value's line keeps a false positive;
a comment without a reason does not.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from harness import BASE, Case, check, ids, run

_rng = random.Random(13)  # noqa: S311 - fake credentials, not cryptography
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"


def fake(length: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(length))


PASSWORD = "Pa55-" + fake(12)
AWS_SECRET = "wJalr" + fake(30, ALNUM) + "/K7+" + fake(1)
GHP = "ghp_" + fake(36)
GITHUB_PAT = "github_pat_" + fake(22) + "_" + fake(59)
XOXB = "xoxb-" + fake(12, string.digits) + "-" + fake(13, string.digits) + "-" + fake(24)
STRIPE = "sk_" + "live_" + fake(24)
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJyZXBvcnRzIn0." + fake(43, URLSAFE)
ACCOUNT_KEY = fake(86, ALNUM + "+/") + "=="
AZURE = ("DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey=" + ACCOUNT_KEY
         + ";EndpointSuffix=core.windows.net")
PG_PASSWORD = "pg-" + fake(14)
POSTGRES = f"postgres://app:{PG_PASSWORD}@db.internal:5432/app"
GLPAT = "glpat-" + fake(20, URLSAFE)
NPM = "npm_" + fake(36)
AKIA = "AKIA" + fake(16, string.ascii_uppercase + "234567")
PEM_BODY = fake(64, ALNUM + "+/")
DATADOG_KEY = fake(32, HEX)
PEM_ONE_LINE = "-----BEGIN " + "PRIVATE KEY-----\\n" + PEM_BODY + "\\n-----END PRIVATE KEY-----"

ENV = "environments/dev.yaml"
ECS_ENV = "services.web.ecs.environment"
LAMBDA_ENV = "services.worker.lambda.environment"
TASK = "services/web/task.json"
C0 = "containerDefinitions[0]"


def task(**extra: Any) -> str:
    """The base template with ``extra`` fields in its container, each field on one line."""
    container: dict[str, Any] = {"name": "web", "image": "placeholder", "essential": True,
                                 "portMappings": [{"containerPort": 80}],
                                 "environment": [{"name": "PORT", "value": "80"}], **extra}
    fields = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in container.items())
    return ('{\n  "family": "web",\n  "networkMode": "awsvpc",\n'
            '  "requiresCompatibilities": ["FARGATE"],\n  "cpu": "256",\n  "memory": "512",\n'
            '  "containerDefinitions": [\n    {\n' + fields + "\n    }\n  ]\n}\n")


def env_case(name: str, where: str, key: str, value: str, message: str) -> Case:
    return Case(name, message, file=ENV, field=f"{where}.{key}",
                set={ENV: {f"{where}.{key}": value}}, secret=value)


def build_arg_case(name: str, key: str, value: str, message: str, *, defaults: bool) -> Case:
    field = f"defaults.build_args.{key}" if defaults else f"services.web.build_args.{key}"
    return Case(name, message, file="release.yaml", field=field,
                set={"release.yaml": {field: value}}, secret=value)


def template_case(name: str, field: str, message: str, secret: str, **extra: Any) -> Case:
    return Case(name, message, file=TASK, field=f"{C0}.{field}", write={TASK: task(**extra)},
                secret=secret)


NAMED = "is named like a secret"
CASES = [
    # ECS environment: names, then values under harmless names
    env_case("ecs-db-pass", ECS_ENV, "DB_PASS", PASSWORD, f"'DB_PASS' {NAMED} (PASS)"),
    env_case("ecs-db-pwd", ECS_ENV, "DB_PWD", PASSWORD, f"'DB_PWD' {NAMED} (PWD)"),
    env_case("ecs-apikey", ECS_ENV, "APIKEY", fake(32), f"'APIKEY' {NAMED} (APIKEY)"),
    env_case("ecs-camel-case-key", ECS_ENV, "stripeApiKey", fake(32),
             "'stripeApiKey' is named like a key (*_KEY)"),
    env_case("ecs-aws-secret-key-value", ECS_ENV, "BACKUP_CONFIG", AWS_SECRET,
             "looks like an AWS secret access key"),
    env_case("ecs-github-token-value", ECS_ENV, "NOTES", GHP, "looks like a GitHub token"),
    env_case("ecs-github-pat-value", ECS_ENV, "CI_HELPER", GITHUB_PAT,
             "looks like a GitHub token"),
    env_case("ecs-slack-value", ECS_ENV, "CHAT", XOXB, "looks like a Slack token"),
    env_case("ecs-stripe-value", ECS_ENV, "PAYMENTS", STRIPE, "looks like a Stripe secret key"),
    env_case("ecs-jwt-value", ECS_ENV, "USER_CONTEXT", JWT, "looks like a JSON Web Token"),
    env_case("ecs-azure-connection-string", ECS_ENV, "STORAGE", AZURE,
             "looks like an Azure storage account key"),
    env_case("ecs-postgres-url", ECS_ENV, "DATABASE_URL", POSTGRES, "a URL with a password"),
    env_case("ecs-gitlab-value", ECS_ENV, "GITLAB", GLPAT, "looks like a GitLab token"),
    env_case("ecs-jvm-property", ECS_ENV, "JAVA_OPTS",
             f"-Xmx1g -Dspring.datasource.password={PASSWORD}",
             "sets spring.datasource.password, named like a secret (PASSWORD)"),
    env_case("ecs-private-key-one-line", ECS_ENV, "TLS", PEM_ONE_LINE, "is a private key"),
    # Lambda environment
    env_case("lambda-db-pass", LAMBDA_ENV, "DB_PASS", PASSWORD, f"'DB_PASS' {NAMED} (PASS)"),
    env_case("lambda-camel-case-key", LAMBDA_ENV, "openAiApiKey", fake(48),
             "is named like a key (*_KEY)"),
    env_case("lambda-github-token-value", LAMBDA_ENV, "NOTES", GHP, "looks like a GitHub token"),
    env_case("lambda-slack-value", LAMBDA_ENV, "CHAT", XOXB, "looks like a Slack token"),
    env_case("lambda-stripe-value", LAMBDA_ENV, "PAYMENTS", STRIPE,
             "looks like a Stripe secret key"),
    env_case("lambda-jwt-value", LAMBDA_ENV, "USER_CONTEXT", JWT, "looks like a JSON Web Token"),
    env_case("lambda-postgres-url", LAMBDA_ENV, "DATABASE_URL", POSTGRES, "a URL with a password"),
    env_case("lambda-aws-key-id", LAMBDA_ENV, "STORAGE_ID", AKIA,
             "looks like an AWS access key id"),
    env_case("lambda-npm-value", LAMBDA_ENV, "REGISTRY_AUTH", NPM, "looks like an npm token"),
    # build args: the defaults and a service's own
    build_arg_case("build-arg-default-npm-token", "NPM_TOKEN", NPM, "looks like an npm token",
                   defaults=True),
    build_arg_case("build-arg-default-db-pass", "DB_PASS", PASSWORD, f"'DB_PASS' {NAMED} (PASS)",
                   defaults=True),
    build_arg_case("build-arg-default-github-token", "PIP_EXTRA", GHP,
                   "looks like a GitHub token", defaults=True),
    build_arg_case("build-arg-service-apikey", "APIKEY", fake(32), f"'APIKEY' {NAMED} (APIKEY)",
                   defaults=False),
    build_arg_case("build-arg-service-aws-secret", "MODEL_SYNC", AWS_SECRET,
                   "looks like an AWS secret access key", defaults=False),
    build_arg_case("build-arg-service-pip-index", "PIP_INDEX_URL",
                   f"https://build:{PG_PASSWORD}@pypi.internal/simple", "a URL with a password",
                   defaults=False),
    build_arg_case("build-arg-service-gitlab", "GIT_AUTH", GLPAT, "looks like a GitLab token",
                   defaults=False),
    # the task definition template
    template_case("template-env-db-pwd", "environment[1]", f"'DB_PWD' {NAMED} (PWD)", PASSWORD,
                  environment=[{"name": "PORT", "value": "80"},
                               {"name": "DB_PWD", "value": PASSWORD}]),
    template_case("template-env-azure", "environment[1]", "looks like an Azure storage", AZURE,
                  environment=[{"name": "PORT", "value": "80"},
                               {"name": "STORAGE", "value": AZURE}]),
    template_case("template-command-token", "command[2]", "looks like a GitHub token", GHP,
                  command=["sh", "-c", f"git clone https://x-access-token:{GHP}@github.com/a/b"]),
    template_case("template-command-flag", "command[3]",
                  "follows --db-password, named like a secret (PASSWORD)", PASSWORD,
                  command=["gunicorn", "app:api", "--db-password", PASSWORD]),
    template_case("template-entrypoint-url", "entryPoint[1]", "a URL with a password", POSTGRES,
                  entryPoint=["/app/migrate", POSTGRES]),
    template_case("template-entrypoint-jwt", "entryPoint[2]", "looks like a JSON Web Token", JWT,
                  entryPoint=["/app/run", "--bearer", JWT]),
    template_case("template-labels-token", "dockerLabels.NOTES", "looks like a Slack token", XOXB,
                  dockerLabels={"team": "vision", "NOTES": XOXB}),
    template_case("template-labels-named", "dockerLabels.com.acme.api-key",
                  "is named like a key (*_KEY)", "lbl-" + PASSWORD,
                  dockerLabels={"com.acme.api-key": "lbl-" + PASSWORD}),
    template_case("template-health-check", "healthCheck.command[1]",
                  "looks like an authorization header", "Bearer " + GHP[4:],
                  healthCheck={"command": ["CMD-SHELL", "curl -fsS -H 'Authorization: Bearer "
                                           + GHP[4:] + "' http://localhost/health"]}),
    template_case("template-log-options", "logConfiguration.options.apikey",
                  f"'apikey' {NAMED} (APIKEY)", DATADOG_KEY,
                  logConfiguration={"logDriver": "awsfirelens",
                                    "options": {"Name": "datadog", "apikey": DATADOG_KEY}}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_plaintext_credential_is_refused(case: Case, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    assert "plaintext credential" in outcome.err


# --- the allow-plaintext comment ------------------------------------------------------------

PUBLIC_ID = "pub_" + fake(32)  # a value the check would refuse under this name
ENV_TEXT = BASE[ENV]
KEPT_LINE = "        LOG_LEVEL: info\n"


def with_line(text: str, after: str, line: str) -> str:
    assert after in text
    return text.replace(after, after + line, 1)


def allowed_env(comment: str) -> str:
    return with_line(ENV_TEXT, KEPT_LINE, f"        OAUTH_CLIENT_SECRET: {PUBLIC_ID}{comment}\n")


RELEASE_TEXT = BASE["release.yaml"]

ALLOWED = [
    Case("allow-comment-with-reason", "", write={ENV: allowed_env(
        "  # release: allow-plaintext (public client of the SPA, shown in its login page)")},
         secret=PUBLIC_ID, exit=0),
    Case("allow-comment-reason-after-dash", "", write={ENV: allowed_env(
        "  # release: allow-plaintext - a public value, see docs/auth.md")},
         secret=PUBLIC_ID, exit=0),
    Case("allow-comment-on-a-build-arg", "", write={"release.yaml": with_line(
        RELEASE_TEXT, '    PYTHON_VERSION: "3.12"\n',
        f"    NPM_TOKEN: {NPM}  # release: allow-plaintext (read-only token of the public "
        "mirror)\n")}, secret=NPM, exit=0),
    Case("allow-comment-in-a-file-with-anchors", "", write={ENV: with_line(
        ENV_TEXT.replace("        LOG_LEVEL: info\n", "        LOG_LEVEL: &level info\n"),
        "        MODEL_NAME: quetzal\n",
        f"        LEVEL_AGAIN: *level\n        NOTES: {GHP}  # release: allow-plaintext "
        "(revoked token kept as a scanner test)\n")}, secret=GHP, exit=0),
]

NOT_ALLOWED = [
    Case("allow-comment-without-reason", "its allow-plaintext comment gives no reason",
         file=ENV, field=f"{ECS_ENV}.OAUTH_CLIENT_SECRET",
         write={ENV: allowed_env("  # release: allow-plaintext")}, secret=PUBLIC_ID),
    Case("allow-comment-with-empty-reason", "its allow-plaintext comment gives no reason",
         file=ENV, field=f"{ECS_ENV}.OAUTH_CLIENT_SECRET",
         write={ENV: allowed_env("  # release: allow-plaintext ()")}, secret=PUBLIC_ID),
    Case("allow-comment-on-another-line", "is named like a secret (SECRET)", file=ENV,
         field=f"{ECS_ENV}.OAUTH_CLIENT_SECRET",
         write={ENV: with_line(allowed_env(""), KEPT_LINE,
                               "        # release: allow-plaintext (not here)\n")},
         secret=PUBLIC_ID),
    Case("allow-marker-inside-the-value", "is named like a secret (SECRET)", file=ENV,
         field=f"{ECS_ENV}.OAUTH_CLIENT_SECRET",
         write={ENV: with_line(ENV_TEXT, KEPT_LINE, f'        OAUTH_CLIENT_SECRET: "{PUBLIC_ID}'
                                                    ' # release: allow-plaintext (x)"\n')},
         secret=PUBLIC_ID),
]


@pytest.mark.parametrize("case", ALLOWED + NOT_ALLOWED, ids=ids(ALLOWED + NOT_ALLOWED))
def test_allow_plaintext_comment(case: Case, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
