"""The secret check on a corpus of fake credentials and harmless values, against detect-secrets.

Every credential is made up: bodies come from a seeded generator at run time, so no file
holds anything a secret scanner (or GitHub's push protection) would take for a live key.
Each case is (name, value) as it would stand in an environment file, a build arg or a task
definition. detect-secrets (Yelp: all its plugins, its default filters) scans the same cases
written into the files they would stand in, an environment file (YAML), a ``.env`` file and a
task definition (JSON), and counts as finding a case when it reports any of the three: its
best showing.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

import pytest
import yaml

from release.config.credentials import find_secret

_rng = random.Random(20261122)  # noqa: S311 - fake test data, not cryptography
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def fake(length: int, alphabet: str = ALNUM) -> str:
    """A made-up random body."""
    return "".join(_rng.choice(alphabet) for _ in range(length))


def password() -> str:
    return fake(6) + "-" + fake(6) + "!" + fake(2, string.digits)


def jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(
        b'{"sub":"svc-reports","iat":1700000000,"scope":"reports:read"}').decode().rstrip("=")
    return f"{header}.{body}.{fake(43, URLSAFE)}"


PEM = ("-----BEGIN " + "RSA PRIVATE KEY-----\n" + "\n".join(fake(64, B64) for _ in range(4))
       + "\n-----END RSA PRIVATE KEY-----")
OPENSSH = ("-----BEGIN " + "OPENSSH PRIVATE KEY-----\n" + fake(70, B64)
           + "\n-----END OPENSSH PRIVATE KEY-----")

# (what it is, name, value): each a credential that must be refused.
SECRETS: list[tuple[str, str, str]] = [
    # named like a secret, whatever the value
    ("DB_PASS", "DB_PASS", password()),
    ("DB_PWD", "DB_PWD", password()),
    ("APIKEY", "APIKEY", fake(32)),
    ("camelCase api key", "stripeApiKey", fake(32)),
    ("SMTP_PASSWORD", "SMTP_PASSWORD", "Summer2024!"),
    ("CLIENT_SECRET", "OIDC_CLIENT_SECRET", fake(40, URLSAFE)),
    ("AUTH_TOKEN", "TWILIO_AUTH_TOKEN", fake(32, HEX)),
    ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY", fake(50, ALNUM + "!@#%^&*(-_=+)")),
    ("ENCRYPTION_KEY", "ENCRYPTION_KEY", base64.b64encode(_rng.randbytes(32)).decode()),
    ("dotted property name", "spring.datasource.password", password()),
    ("kebab name", "redis-password", password()),
    ("run-together name", "DBPASSWORD", password()),
    # a suggestive name and a random value
    ("signing salt", "COOKIE_SIGNING_SALT", fake(24)),
    ("webhook hmac", "WEBHOOK_HMAC", fake(40, HEX)),
    # the value's shape, under a harmless name
    ("AWS access key id", "STORAGE_ID", "AKIA" + fake(16, string.ascii_uppercase + "234567")),
    ("AWS secret access key", "BACKUP_CONFIG", "wJalr" + fake(35, B64)),
    ("GitHub classic token", "NOTES", "ghp_" + fake(36)),
    ("GitHub app token", "CI_HELPER", "ghs_" + fake(36)),
    ("GitHub fine-grained token", "CI_HELPER_2", "github_pat_" + fake(22) + "_" + fake(59)),
    ("GitLab token", "GITLAB", "glpat-" + fake(20, URLSAFE)),
    ("Slack bot token", "SLACK_BOT",
     "xoxb-" + fake(12, string.digits) + "-" + fake(13, string.digits) + "-" + fake(24)),
    ("Slack webhook", "ALERTS_URL",
     "https://hooks.slack.com/services/T" + fake(8, string.ascii_uppercase + string.digits)
     + "/B" + fake(10, string.ascii_uppercase + string.digits) + "/" + fake(24)),
    ("Discord webhook", "DISCORD_URL",
     "https://discord.com/api/webhooks/" + fake(18, string.digits) + "/" + fake(68, URLSAFE)),
    ("Stripe live key", "PAYMENTS", "sk_" + "live_" + fake(24)),
    ("Stripe restricted key", "PAYMENTS_RO", "rk_" + "live_" + fake(24)),
    ("JWT", "USER_CONTEXT", jwt()),
    ("Bearer header in a command", "HEALTH_CMD",
     "curl -fsS -H 'Authorization: Bearer " + fake(40) + "' http://localhost/health"),
    ("API key header in a command", "WARMUP_CMD",
     "curl -H 'X-Api-Key: " + fake(32) + "' https://api.example.com/warm"),
    ("RSA private key", "TLS_KEY_PEM", PEM),
    ("OpenSSH private key", "DEPLOY_SSH", OPENSSH),
    ("Azure storage connection string", "STORAGE",
     "DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey="
     + fake(86, B64) + "==;EndpointSuffix=core.windows.net"),
    ("Azure Service Bus connection string", "BUS",
     "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
     "SharedAccessKey=" + fake(43, B64) + "="),
    ("Azure SAS URL", "EXPORT_URL",
     "https://acmedata.blob.core.windows.net/exports?sv=2022-11-02&ss=b&srt=co&sp=rl"
     "&se=2030-01-01T00:00:00Z&spr=https&sig=" + fake(40) + "%2B" + fake(6) + "%3D"),
    ("Azure AD client secret", "GRAPH_CLIENT",
     fake(3) + fake(1, string.digits) + "Q~" + fake(34, ALNUM + "_~.-")),
    ("SQL Server connection string", "SQL",
     "Server=tcp:db.internal,1433;Database=app;User ID=app;Password=" + password() + ";"),
    ("Postgres URL", "DATABASE_URL", "postgres://app:" + password() + "@db.internal:5432/app"),
    ("MongoDB URL", "MONGO", "mongodb+srv://admin:" + fake(16) + "@cluster0.example.net/app"),
    ("Redis URL, password only", "CACHE", "redis://:" + fake(20) + "@cache.internal:6379/0"),
    ("AMQP URL", "BROKER", "amqps://worker:" + fake(18) + "@mq.internal:5671/jobs"),
    ("JVM system property", "JAVA_OPTS", "-Xmx1g -Dspring.datasource.password=" + password()),
    ("flag in a command", "START_CMD", "gunicorn app:api --db-password " + password()),
    ("JSON config holding a password", "APP_CONFIG",
     '{"db": {"user": "app", "password": "' + password() + '"}}'),
    ("URL query token", "FEED_URL", "https://api.example.com/v1/feed?api_key=" + fake(32)),
    ("S3 pre-signed URL", "REPORT_URL",
     "https://acme.s3.amazonaws.com/r.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
     "AKIA" + fake(16, string.ascii_uppercase) + "%2F20301201%2Feu-west-1%2Fs3%2Faws4_request"
     "&X-Amz-Signature=" + fake(64, HEX)),
    ("npm token", "NPM_CONFIG", "npm_" + fake(36)),
    ("PyPI token", "UPLOAD", "pypi-AgEIcHlwaS5vcmc" + fake(70, URLSAFE)),
    ("Google API key", "MAPS", "AIza" + fake(35, URLSAFE)),
    ("Google OAuth client secret", "GOOGLE_OAUTH", "GOCSPX-" + fake(28, URLSAFE)),
    ("SendGrid key", "MAIL", "SG." + fake(22, URLSAFE) + "." + fake(43, URLSAFE)),
    ("Twilio API key", "SMS", "SK" + fake(32, HEX)),
    ("Mailchimp key", "NEWSLETTER", fake(32, HEX) + "-us6"),
    ("OpenAI project key", "LLM", "sk-" + "proj-" + fake(48, URLSAFE)),
    ("Anthropic key", "LLM_2", "sk-" + "ant-api03-" + fake(93, URLSAFE)),
    ("Hugging Face token", "HF_HUB", "hf_" + fake(34)),
    ("Telegram bot token", "BOT", fake(9, string.digits) + ":AA" + fake(33, URLSAFE)),
    ("Vault token", "VAULT", "hvs." + fake(90, URLSAFE)),
    ("Docker Hub token", "REGISTRY_LOGIN", "dckr_pat_" + fake(27, URLSAFE)),
    ("Databricks token", "SPARK", "dapi" + fake(32, HEX)),
    ("DigitalOcean token", "DO", "dop_v1_" + fake(64, HEX)),
    ("Shopify token", "SHOP", "shpat_" + fake(32, HEX)),
    ("age secret key", "AGE", "AGE-SECRET-KEY-1" + fake(58, string.ascii_uppercase + "023456789")),
    ("Azure storage key alone", "BLOB", fake(86, B64) + "=="),
]

# (what it is, name, value): values that must pass.
HARMLESS: list[tuple[str, str, str]] = [
    ("log level", "LOG_LEVEL", "info"),
    ("image tag", "BASE_IMAGE", "python:3.12-slim-bookworm"),
    ("image by digest", "SIDECAR_IMAGE", "public.ecr.aws/aws-observability/aws-otel-collector"
     "@sha256:" + fake(64, HEX)),
    ("ECR image", "WORKER_IMAGE",
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/coral/worker:1.4.2"),
    ("S3 model path", "MODEL_PATH", "s3://acme-dev-autovision-models/detector/v3/model.onnx"),
    ("URL without a password", "DATA_URL", "http://data.dev.internal/predictions/latest.json"),
    ("URL with a user only", "DB_URL", "postgres://app@db.internal:5432/app"),
    ("URL with a password variable", "DSN_TEMPLATE", "postgres://app:${DB_PASSWORD}@db:5432/app"),
    ("SQS queue URL", "QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"),
    ("role ARN", "UPLOAD_ROLE_ARN", "arn:aws:iam::123456789012:role/dev-uploader"),
    ("secret ARN", "DB_SECRET_ARN",
     "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dev/db-AbCdEf"),
    ("KMS key id", "KMS_KEY_ID", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("tenant id", "AZURE_TENANT_ID", "6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21"),
    ("request UUID", "DEFAULT_CORRELATION", "0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("threshold", "DETECTION_THRESHOLD", "0.45"),
    ("token budget", "MAX_TOKENS", "4096"),
    ("token count", "NUM_TOKENS", "10"),
    ("token limit", "TOKEN_LIMIT", "8000"),
    ("pass-through", "PASSTHROUGH", "true"),
    ("pass-through headers", "PASS_THROUGH_HEADERS", "X-Request-Id,X-Trace-Id"),
    ("keyboard", "KEYBOARD_LAYOUT", "us"),
    ("key prefix", "KEY_PREFIX", "uploads/incoming/"),
    ("S3 object key", "MODEL_KEY", "models/detector/v3/model.onnx"),
    ("cache key", "CACHE_KEY", "predictions-v3"),
    ("public key name", "STRIPE_PUBLISHABLE_KEY", "pk_" + "live_" + "example"),
    ("git commit", "GIT_SHA", fake(40, HEX)),
    ("base64 of a small config", "FEATURE_FLAGS_B64",
     base64.b64encode(b'{"beta": true, "limit": 10}').decode()),
    ("config path", "CONFIG_PATH", "/etc/app/config.yaml"),
    ("password file", "DB_PASSWORD_FILE", "/run/secrets/db_password"),
    ("token endpoint", "OAUTH_TOKEN_URL", "https://login.example.com/oauth2/v2.0/token"),
    ("credentials file", "GOOGLE_APPLICATION_CREDENTIALS", "/var/secrets/google/key.json"),
    ("working directory", "PWD", "/app"),
    ("JVM options", "JAVA_OPTS", "-Xmx2g -XX:+UseG1GC -Dspring.profiles.active=prod"),
    ("health check", "HEALTH_CMD", "curl -fsS http://localhost/health || exit 1"),
    ("command flags", "START_CMD", "gunicorn app:api --workers 4 --max-tokens 512 --timeout 120"),
    ("password flag from the environment", "MIGRATE_CMD", "migrate --db-password $DB_PASSWORD"),
    ("time zone", "TZ", "Europe/Paris"),
    ("version", "APP_VERSION", "2024.11.3"),
    ("empty password", "DB_PASSWORD", ""),
    ("Lambda alias ARN", "SCORER_ARN",
     "arn:aws:lambda:eu-west-1:123456789012:function:scorer:live"),
    ("password policy", "PASSWORD_MIN_LENGTH", "12"),
    ("token type", "TOKEN_TYPE", "Bearer"),
    ("secret name", "DB_SECRET_NAME", "dev/coral/db"),
    ("key vault URL", "KEY_VAULT_URL", "https://acme-dev.vault.azure.net/"),
    ("JWT issuer", "JWT_ISSUER", "https://token.actions.githubusercontent.com"),
    ("auth mode", "AUTH_MODE", "oidc"),
    ("session store", "SESSION_BACKEND", "redis-cluster-01"),
    ("trace sampling", "OTEL_TRACES_SAMPLER_ARG", "0.25"),
]


def _write_config_files(folder: Path, name: str, value: str) -> list[Path]:
    folder.mkdir(parents=True)
    files = {
        "dev.yaml": yaml.safe_dump({"environment": {name: value}}, width=10_000),
        ".env": f"{name}={json.dumps(value)}\n",
        "task.json": json.dumps({"environment": [{"name": name, "value": value}]}, indent=2),
    }
    for file, text in files.items():
        (folder / file).write_text(text)
    return [folder / file for file in files]


def detect_secrets_finds(folder: Path, name: str, value: str) -> bool:
    """Whether detect-secrets reports ``name=value`` in any of the files it could stand in."""
    scan = pytest.importorskip("detect_secrets.core.scan")
    settings = pytest.importorskip("detect_secrets.settings")
    with settings.default_settings():
        return any(next(iter(scan.scan_file(str(path))), None) is not None
                   for path in _write_config_files(folder, name, value))


def test_corpus_size() -> None:
    assert len(SECRETS) >= 40
    assert len(HARMLESS) >= 20
    assert len({what for what, _, _ in SECRETS}) == len(SECRETS)


@pytest.mark.parametrize(("what", "name", "value"), SECRETS, ids=[s[0] for s in SECRETS])
def test_every_secret_is_found(what: str, name: str, value: str) -> None:
    reason = find_secret(name, value)
    assert reason is not None, what
    assert value not in reason
    assert name in reason


@pytest.mark.parametrize(("what", "name", "value"), HARMLESS, ids=[h[0] for h in HARMLESS])
def test_harmless_values_pass(what: str, name: str, value: str) -> None:
    assert find_secret(name, value) is None, what


def test_recall_at_least_detect_secrets(tmp_path: Path) -> None:
    ours = {what for what, name, value in SECRETS if find_secret(name, value) is not None}
    theirs = {what for index, (what, name, value) in enumerate(SECRETS)
              if detect_secrets_finds(tmp_path / f"s{index}", name, value)}
    flagged = {what for index, (what, name, value) in enumerate(HARMLESS)
               if detect_secrets_finds(tmp_path / f"h{index}", name, value)}
    print(f"\nrecall on {len(SECRETS)} fake credentials: ours {len(ours)}, detect-secrets "
          f"{len(theirs)} (it misses: {', '.join(sorted(ours - theirs))}); harmless values "
          f"flagged: ours 0, detect-secrets {len(flagged)} ({', '.join(sorted(flagged))})")
    assert len(ours) >= len(theirs)
    assert not theirs - ours, f"detect-secrets finds what we miss: {sorted(theirs - ours)}"
