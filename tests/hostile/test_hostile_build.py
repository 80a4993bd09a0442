"""Hostile build settings (issue 14): what a branch could commit in a service's target,
build_secrets, tags, platforms, attestations, cache and builder to read outside the
repository, hand the release's own credentials or another account's secrets to a build,
poison the build-key cache, forge log lines or crash the tool. Each is refused with exit 2,
a located message and a hint, having opened nothing outside and connected nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import Case, check, ids, run

REL = "release.yaml"
TASK = "services/web/task.json"
SECRETS = "services.web.build_secrets"
DEPLOY = ("deploy", "--env", "dev", "--dry-run")
OUTSIDE_FILE = "{outside}/secret.txt"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/hub-token-AbCdEf"
NOT_VALID = "is not a valid value here"
CONTROL = "contains the control character"


def rel(name: str, field: str, value: Any, message: str, *, at: str = "",
        **extra: Any) -> Case:
    """A case that sets one field of release.yaml and expects it (or ``field`` + ``at``)
    named."""
    return Case(name, message, file=REL, field=field + at, set={REL: {field: value}},
                **extra)


def secret(name: str, source: dict[str, Any], message: str, *, field: str = "file",
           **extra: Any) -> Case:
    """A case that gives the web service the build secret ``tok`` from ``source``."""
    at = f"{SECRETS}.tok"
    return Case(name, message, file=REL, field=f"{at}.{field}" if field else at,
                set={REL: {at: source}}, **extra)


NETRC = {"file": "ci/netrc"}
SECRET_FILES = [
    secret("secret-file-links-outside", NETRC, "leads outside the repository",
           links={"ci/netrc": OUTSIDE_FILE}),
    secret("secret-file-links-to-etc-passwd", NETRC, "leads outside the repository",
           links={"ci/netrc": "/etc/passwd"}),
    secret("secret-file-links-to-dev-zero", NETRC, "leads outside the repository",
           links={"ci/netrc": "/dev/zero"}),
    secret("secret-file-links-to-proc-environ", NETRC, "leads outside the repository",
           links={"ci/netrc": "/proc/self/environ"}),
    secret("secret-file-dir-links-outside", NETRC, "leads outside the repository",
           links={"ci": "{outside}/dir"}),
    secret("secret-file-is-a-fifo", NETRC, "a named pipe (FIFO)", fifos=("ci/netrc",)),
    secret("secret-file-is-a-directory", {"file": "services"}, "is a directory"),
    secret("secret-file-dotdot", {"file": "../outside/secret.txt"}, NOT_VALID),
    secret("secret-file-dotdot-inside", {"file": "ci/../../outside/secret.txt"}, NOT_VALID),
    secret("secret-file-absolute", {"file": "/etc/passwd"}, NOT_VALID),
    secret("secret-file-control-character", {"file": "ci/net\nrc"}, CONTROL),
    secret("secret-file-inside-the-context", {"file": "services/web/netrc"},
           "is inside the build context", write={"services/web/netrc": "machine x"}),
    secret("secret-file-linked-into-the-context", NETRC, "is inside the build context",
           write={"services/web/netrc": "machine x"},
           links={"ci/netrc": "../services/web/netrc"}),
    secret("secret-file-refused-before-deploy", NETRC, "leads outside the repository",
           links={"ci/netrc": OUTSIDE_FILE}, argv=DEPLOY),
]

SECRET_SOURCES = [
    secret("secret-two-sources", {"env": "PIP_TOKEN", "file": "ci/netrc"},
           "names 2 sources", field=""),
    secret("secret-no-source", {}, "must not be empty", field=""),
    secret("secret-unknown-source", {"vault": "kv/token"}, "unknown field 'vault'",
           field="vault"),
    secret("secret-source-not-a-mapping", "PIP_TOKEN", "expected a mapping", field=""),
    secret("secret-env-invalid-name", {"env": "PIP-TOKEN"}, NOT_VALID, field="env"),
    secret("secret-env-with-value", {"env": "PIP_TOKEN=abc"}, NOT_VALID, field="env"),
    secret("secret-env-release-aws-key", {"env": "AWS_SECRET_ACCESS_KEY"},
           "holds the release's own credentials", field="env"),
    secret("secret-env-release-session", {"env": "aws_session_token"},
           "holds the release's own credentials", field="env"),
    secret("secret-env-oidc-request-token", {"env": "ACTIONS_ID_TOKEN_REQUEST_TOKEN"},
           "holds the release's own credentials", field="env"),
    secret("secret-env-actions-runtime-token", {"env": "ACTIONS_RUNTIME_TOKEN"},
           "holds the release's own credentials", field="env"),
    secret("secret-aws-wildcard", {"aws_secret": ARN.replace("hub-token-AbCdEf", "*")},
           NOT_VALID, field="aws_secret"),
    secret("secret-aws-not-an-arn", {"aws_secret": "ci/hub-token"}, NOT_VALID,
           field="aws_secret"),
    secret("secret-aws-parameter-arn", {"aws_secret": "arn:aws:ssm:eu-west-1:123456789012:"
                                                      "parameter/ci/x"},
           NOT_VALID, field="aws_secret"),
    secret("secret-aws-other-account",
           {"aws_secret": ARN.replace("123456789012", "999999999999")},
           "is in account 999999999999", field="aws_secret"),
    secret("secret-aws-other-region", {"aws_secret": ARN.replace("eu-west-1", "us-east-1")},
           "region us-east-1", field="aws_secret"),
    secret("secret-aws-control-character", {"aws_secret": ARN + "\n::error::x"}, CONTROL,
           field="aws_secret"),
    secret("secret-ssm-wildcard", {"ssm": "/ci/*"}, NOT_VALID, field="ssm"),
    secret("secret-ssm-arn", {"ssm": "arn:aws:ssm:eu-west-1:999999999999:parameter/ci/x"},
           NOT_VALID, field="ssm"),
    secret("secret-ssm-workflow-command", {"ssm": "::add-mask::x"}, NOT_VALID, field="ssm"),
    Case("secret-aws-without-aws-block", "has no aws block", file=REL,
         field="services.batch.build_secrets.tok.ssm",
         set={REL: {"services.batch.build_secrets": {"tok": {"ssm": "/ci/x"}}}},
         write={"environments/azure.yaml": (
             "name: azure\nazure:\n  tenant_id: 6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21\n"
             "  client_id: 2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58\n"
             "  subscription_id: 9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24\n"
             "registry:\n  type: acr\n  host: acmebatch.azurecr.io\nservices:\n"
             "  batch:\n    azure_container_app:\n      name: batch-app\n"
             "      resource_group: rg\n")}),
]

SECRET_IDS = [
    rel("secret-id-control-character", SECRETS, {"tok\x01x": {"env": "PIP_TOKEN"}},
        "is not a valid name here", at=".tok\\x01x"),
    rel("secret-id-workflow-command", SECRETS, {"::warning::x": {"env": "PIP_TOKEN"}},
        "is not a valid name here", at=".::warning::x"),
    rel("secret-id-with-comma", SECRETS, {"tok,src=/etc/passwd": {"env": "PIP_TOKEN"}},
        "is not a valid name here", at=".tok,src=/etc/passwd"),
    rel("secret-id-too-long", SECRETS, {"t" * 65: {"env": "PIP_TOKEN"}},
        "is not a valid name here", at="." + "t" * 65),
    rel("secret-id-not-a-string", SECRETS, {1: {"env": "PIP_TOKEN"}},
        "is read by YAML as a number", at=".1"),
    rel("secret-ids-not-a-mapping", SECRETS, ["PIP_TOKEN"], "expected a mapping"),
]

TAGS = [
    rel("tag-unknown-placeholder", "services.web.tags", ["v-${branch}"],
        "unknown placeholder '${branch}'", at="[0]"),
    rel("tag-wildcard-placeholder", "services.web.tags", ["v-${*}"], NOT_VALID, at="[0]"),
    rel("tag-shell-placeholder", "services.web.tags", ["v-$run_number"], NOT_VALID, at="[0]"),
    rel("tag-expression-placeholder", "services.web.tags", ["v-${{ github.sha }}"],
        NOT_VALID, at="[0]"),
    rel("tag-nested-placeholder", "services.web.tags", ["v-${env${sha}}"], NOT_VALID, at="[0]"),
    rel("tag-workflow-command", "services.web.tags", ["::set-output name=x::y"], NOT_VALID,
        at="[0]"),
    rel("tag-control-character", "services.web.tags", ["v1\n::error::forged"], CONTROL, at="[0]"),
    rel("tag-leading-dash", "services.web.tags", ["-v1"], NOT_VALID, at="[0]"),
    rel("tag-with-colon", "services.web.tags", ["web:latest"], NOT_VALID, at="[0]"),
    rel("tag-build-key-lookalike", "services.web.tags", ["0123456789abcdef0123"],
        "looks like a build key", at="[0]"),
    rel("tag-cache-ref", "services.web.tags", ["buildcache"], "looks like a build key", at="[0]"),
    rel("tag-not-a-string", "services.web.tags", [5], "expected a string", at="[0]"),
    rel("tags-duplicate", "services.web.tags", ["v1", "v1"], "has duplicate entries"),
]

PLATFORMS = [
    rel("platform-unknown", "services.web.platforms", ["linux/amd64", "linux/s390x"],
        "is not allowed", at="[1]"),
    rel("platforms-duplicate", "services.web.platforms", ["linux/amd64", "linux/amd64"],
        "has duplicate entries"),
    rel("platforms-empty", "services.web.platforms", [], "must not be empty"),
    rel("platforms-a-string", "services.web.platforms", "linux/amd64,linux/arm64",
        "expected a list"),
    Case("platform-and-platforms", "set platform or platforms, not both", file=REL,
         field="services.web.platforms",
         set={REL: {"services.web.platform": "linux/amd64",
                    "services.web.platforms": ["linux/amd64", "linux/arm64"]}}),
    rel("platforms-on-lambda", "services.worker.platforms", ["linux/amd64", "linux/arm64"],
        "a lambda target takes one platform"),
    Case("default-platforms-on-lambda", "a lambda target takes one platform", file=REL,
         field="services.worker",
         set={REL: {"defaults.platforms": ["linux/amd64", "linux/arm64"]}}),
    rel("azure-app-without-amd64", "services.batch.platform", "linux/arm64",
        "runs linux/amd64 images only"),
    rel("attestations-on-lambda", "services.worker.attestations", True,
        "a lambda target cannot take attestations"),
    rel("attestations-not-a-boolean", "services.web.attestations", "yes",
        "expected true or false"),
    Case("ecs-architecture-not-built", "runtimePlatform.cpuArchitecture ARM64", file=REL,
         field="services.web",
         set={TASK: {"runtimePlatform": {"cpuArchitecture": "ARM64",
                                         "operatingSystemFamily": "LINUX"}}}),
    Case("ecs-default-architecture-not-built", "no runtimePlatform", file=REL,
         field="services.web.platform", set={REL: {"services.web.platform": "linux/arm64"}}),
]

BUILD = [
    rel("target-control-character", "services.web.target", "runtime\n::error::x", CONTROL),
    rel("target-workflow-command", "services.web.target", "::stop-commands::x", NOT_VALID),
    rel("target-with-space", "services.web.target", "run time", NOT_VALID),
    rel("target-option-injection", "services.web.target", "--output=type=local,dest=/",
        NOT_VALID),
    rel("target-not-a-string", "services.web.target", 3, "expected a string"),
    rel("builder-option-injection", "services.web.builder", "--config=/etc/passwd",
        NOT_VALID),
    rel("builder-workflow-command", "services.web.builder", "::add-mask::x", NOT_VALID),
    rel("builder-control-character", "defaults.builder", "remote\u0085x", CONTROL),
    rel("cache-unknown-field", "services.web.cache", {"s3": True}, "unknown field 's3'",
        at=".s3"),
    rel("cache-not-a-boolean", "services.web.cache.gha", "true", "expected true or false"),
]

CASES = [*SECRET_FILES, *SECRET_SOURCES, *SECRET_IDS, *TAGS, *PLATFORMS, *BUILD]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_build_settings_are_refused(case: Case, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)


def test_the_suite_covers_every_new_field() -> None:
    fields = {"build_secrets", "tags", "platforms", "attestations", "target", "builder",
              "cache"}
    named = {part for case in CASES if case.field for part in case.field.split(".")}
    named |= {part for case in CASES for changes in case.set.values() for dotted in changes
              for part in dotted.split(".")}
    assert fields <= named
    assert len(CASES) >= 25
