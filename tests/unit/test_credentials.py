"""release.config.credentials: which environment variables are plaintext credentials."""

from __future__ import annotations

import pytest

from release.config.credentials import looks_secret, secrets_hint

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
