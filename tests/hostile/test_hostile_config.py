"""Hostile config: what a branch could commit to redirect credentials, read outside the
repository, widen IAM, forge log lines or crash the tool. Each is refused with exit 2, a
located message and a hint, having opened nothing outside and connected nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import BASE, DELETE, Case, check, ids, run

ENV = "environments/dev.yaml"
REL = "release.yaml"
TASK = "services/web/task.json"
FLOW = "services/worker/flow.asl.json"
MODEL = "services/worker/model"
DEPLOY = ("deploy", "--env", "dev", "--dry-run")
TRUST = ("iam", "trust-policy", "--env", "dev", "--repo", "acme/shop")


def env(name: str, field: str, value: Any, message: str, **extra: Any) -> Case:
    """A case that sets one field of environments/dev.yaml."""
    return Case(name, message, file=ENV, field=field, set={ENV: {field: value}}, **extra)


def rel(name: str, field: str, value: Any, message: str, **extra: Any) -> Case:
    """A case that sets one field of release.yaml."""
    return Case(name, message, file=REL, field=field, set={REL: {field: value}}, **extra)


NOT_LOOPBACK = "is not a loopback address"
ENDPOINTS = [
    env("endpoint-instance-metadata", "aws.endpoint_url", "http://169.254.169.254/",
        NOT_LOOPBACK),
    env("endpoint-any-host", "aws.endpoint_url", "https://evil.example.com", NOT_LOOPBACK),
    env("endpoint-private-range", "aws.endpoint_url", "http://10.0.0.5:5000", NOT_LOOPBACK),
    env("endpoint-loopback-lookalike", "aws.endpoint_url", "http://127.0.0.1.evil.com:5000",
        NOT_LOOPBACK),
    env("endpoint-localhost-lookalike", "aws.endpoint_url", "http://localhost.evil.com/",
        NOT_LOOPBACK),
    env("endpoint-with-userinfo", "aws.endpoint_url", "http://x:y@127.0.0.1:5000",
        NOT_LOOPBACK),
    env("endpoint-unspecified-address", "aws.endpoint_url", "http://0.0.0.0:5000",
        NOT_LOOPBACK),
    env("endpoint-mapped-metadata", "aws.endpoint_url", "http://[::ffff:169.254.169.254]/",
        NOT_LOOPBACK),
    env("endpoint-refused-before-deploy", "aws.endpoint_url", "http://169.254.169.254/",
        NOT_LOOPBACK, argv=DEPLOY),
    env("endpoint-refused-before-status", "aws.endpoint_url", "http://169.254.169.254/",
        NOT_LOOPBACK, argv=("status", "--env", "dev")),
    env("endpoint-refused-before-auth", "aws.endpoint_url", "https://evil.example.com",
        NOT_LOOPBACK, argv=("auth", "aws", "--env", "dev"),
        environ={"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token",
                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}),
    env("ecr-host-any", "registry.host", "evil.example.com", "is not an ECR registry host"),
    env("ecr-host-metadata", "registry.host", "169.254.169.254", "is not an ECR registry host"),
    env("ecr-host-other-account", "registry.host",
        "999999999999.dkr.ecr.eu-west-1.amazonaws.com", "names another account or region"),
    env("ecr-host-other-region", "registry.host",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com", "names another account or region"),
    env("ecr-host-suffix-trick", "registry.host",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.com", "is not an ECR registry host"),
    env("ecr-host-refused-before-deploy", "registry.host", "evil.example.com",
        "is not an ECR registry host", argv=DEPLOY),
    env("acr-host-any", "services.batch.registry.host", "evil.example.com",
        "is not an Azure Container Registry host"),
    env("acr-host-suffix-trick", "services.batch.registry.host", "acmebatch.azurecr.io.evil.com",
        "is not an Azure Container Registry host"),
    env("acr-host-no-dot", "services.batch.registry.host", "evilazurecr.io",
        "is not an Azure Container Registry host"),
    env("azure-authority-any", "azure.authority_url", "https://evil.example.com",
        "is neither one of Azure's hosts nor a loopback address"),
    env("azure-authority-lookalike", "azure.authority_url",
        "https://login.microsoftonline.com.evil.com", "is neither one of Azure's hosts"),
    env("azure-authority-plain-http", "azure.authority_url", "https://login.microsoftonline.com@evil.com",
        "is neither one of Azure's hosts"),
    env("azure-management-any", "azure.management_url", "https://evil.example.com",
        "is neither one of Azure's hosts"),
    env("acr-exchange-any", "azure.acr_exchange_url", "https://evil.example.com/oauth2/exchange",
        NOT_LOOPBACK),
    env("acr-exchange-lookalike", "azure.acr_exchange_url",
        "https://acmebatch.azurecr.io.evil.com/oauth2/exchange", NOT_LOOPBACK),
    env("role-in-another-account", "aws.role_arn", "arn:aws:iam::999999999999:role/release-dev",
        "not in this environment's account 123456789012"),
]

OUTSIDE_FILE = "{outside}/secret.txt"
PATHS = [
    Case("release-yaml-links-outside", "leads outside the repository", file=REL,
         links={REL: OUTSIDE_FILE}),
    Case("environment-links-outside", "leads outside the repository",
         file="environments/evil.yaml", links={"environments/evil.yaml": OUTSIDE_FILE}),
    Case("environment-links-to-etc-passwd", "leads outside the repository",
         file="environments/evil.yaml", links={"environments/evil.yaml": "/etc/passwd"}),
    Case("environment-links-to-dev-zero", "leads outside the repository", file=ENV,
         links={ENV: "/dev/zero"}),
    Case("environment-links-to-urandom", "leads outside the repository", file=ENV,
         links={ENV: "/dev/urandom"}),
    Case("environment-is-a-fifo", "a named pipe (FIFO), not a regular file", file=ENV,
         fifos=(ENV,)),
    Case("environment-yml-shadows-yaml", "both environments/dev.yaml and environments/dev.yml",
         file="environments/dev.yml", write={"environments/dev.yml": "name: dev\n"}),
    Case("template-links-outside", "leads outside the repository", file=REL,
         field="services.web.ecs.task_definition", links={TASK: OUTSIDE_FILE}),
    Case("template-links-to-dev-zero", "leads outside the repository", file=REL,
         field="services.web.ecs.task_definition", links={TASK: "/dev/zero"}),
    Case("template-is-a-fifo", "a named pipe (FIFO)", file=REL,
         field="services.web.ecs.task_definition", fifos=(TASK,)),
    Case("template-links-outside-render", "leads outside the repository", file=REL,
         links={TASK: OUTSIDE_FILE}, argv=("render", "--env", "dev", "web")),
    Case("template-too-large", "config files are limited to 1024 KiB", file=TASK,
         write={TASK: '{"family": "web", "x": "' + "a" * (2 << 20) + '"}'}),
    Case("state-machine-links-outside", "leads outside the repository", file=REL,
         field="services.worker.step_functions.definition", links={FLOW: OUTSIDE_FILE}),
    Case("state-machine-is-a-fifo", "a named pipe (FIFO)", file=REL,
         field="services.worker.step_functions.definition", fifos=(FLOW,)),
    Case("dockerfile-links-outside", "leads outside the repository", file=REL,
         field="services.web.context", links={"services/web/Dockerfile": OUTSIDE_FILE}),
    Case("dockerfile-links-to-dev-zero", "leads outside the repository", file=REL,
         field="services.web.context", links={"services/web/Dockerfile": "/dev/zero"}),
    Case("named-dockerfile-is-a-fifo", "a named pipe (FIFO)", file=REL,
         field="services.web.dockerfile", set={REL: {"services.web.dockerfile": "build/Df"}},
         fifos=("build/Df",)),
    Case("context-links-outside", "leads outside the repository", file=REL,
         field="services.web.context", links={"services/web": "{outside}/dir"}),
    Case("s3-source-links-outside", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source", links={MODEL: "{outside}/dir"}),
    Case("s3-file-links-to-shadow", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/shadow": "/etc/shadow"}),
    Case("s3-file-links-to-proc-environ", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source",
         links={f"{MODEL}/environ": "/proc/self/environ"}),
    Case("s3-file-links-to-decoy", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/w.bin": OUTSIDE_FILE}),
    Case("s3-file-links-to-dev-zero", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/zero": "/dev/zero"}),
    Case("s3-file-is-a-fifo", "a named pipe (FIFO)", file=REL,
         field="services.worker.s3_files[0].source", fifos=(f"{MODEL}/pipe",)),
    Case("s3-dir-link-loop", "a symbolic link loop", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/loop": "."}),
    Case("s3-dir-links-to-repository-root", "a symbolic link loop", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/up": "../../.."}),
    Case("s3-file-dangling-link", "a symbolic link to nothing", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/gone": "nothing-here"}),
    Case("s3-outside-refused-before-deploy", "leads outside the repository", file=REL,
         field="services.worker.s3_files[0].source", links={f"{MODEL}/shadow": "/etc/shadow"},
         argv=DEPLOY),
    Case("watch-path-links-outside", "leads outside the repository", file=REL,
         field="services.web.watch[0]", set={REL: {"services.web.watch": ["libs/shared"]}},
         links={"libs/shared": "{outside}/dir"}),
    # Only git reads a watched tree (for the build key), so plan is what refuses its links.
    Case("watch-dir-holds-absolute-link", "which is absolute",
         set={REL: {"services.web.watch": ["libs/shared"]}}, argv=("plan", "--env", "dev"),
         write={"libs/shared/a.py": "x = 1\n"}, links={"libs/shared/b.py": OUTSIDE_FILE}),
    Case("watch-dir-holds-link-climbing-out", "leads outside the repository",
         set={REL: {"services.web.watch": ["libs/shared"]}}, argv=("plan", "--env", "dev"),
         write={"libs/shared/a.py": "x = 1\n"},
         links={"libs/shared/b.py": "../../../outside/secret.txt"}),
    Case("library-links-outside", "leads outside the repository", file=REL,
         field="libraries.shared.path",
         set={REL: {"libraries": {"shared": {"path": "libs/shared"}}}},
         links={"libs/shared": "{outside}/dir"}),
    rel("dockerfile-climbs-out", "services.web.dockerfile", "services/../../outside/secret.txt",
        "is not a valid value"),
    rel("context-absolute", "services.web.context", "/etc", "is not a valid value"),
]

NO_WILDCARD = "is not a valid value"
IAM_NAMES = [
    env("cluster-wildcard", "ecs.cluster", "*", NO_WILDCARD),
    env("service-cluster-wildcard", "services.web.ecs.cluster", "prod-*", NO_WILDCARD),
    env("ecs-service-wildcard", "services.web.ecs.service", "*", NO_WILDCARD),
    env("ecs-service-question-mark", "services.web.ecs.service", "web?", NO_WILDCARD),
    env("family-wildcard", "services.web.ecs.family", "dev-*", NO_WILDCARD),
    env("function-wildcard", "services.worker.lambda.function", "*", NO_WILDCARD),
    env("alias-wildcard", "services.worker.lambda.alias", "li*", NO_WILDCARD),
    env("state-machine-wildcard", "services.worker.step_functions.state_machine", "*",
        NO_WILDCARD),
    env("bucket-wildcard", "s3.bucket", "acme-*", NO_WILDCARD),
    env("secret-arn-wildcard", "services.web.ecs.secrets.DB_URL",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/*", NO_WILDCARD),
    env("task-role-wildcard", "services.web.ecs.task_role_arn", "*", NO_WILDCARD),
    env("execution-role-other-account", "services.web.ecs.execution_role_arn",
        "arn:aws:iam::999999999999:role/x", "not in this environment's account"),
    env("task-role-other-account-trust-policy", "services.web.ecs.task_role_arn",
        "arn:aws:iam::999999999999:role/x", "not in this environment's account", argv=TRUST),
    env("cluster-wildcard-trust-policy", "ecs.cluster", "*", NO_WILDCARD, argv=TRUST),
    Case("role-accounts-wildcard", NO_WILDCARD, file=ENV, field="aws.role_accounts[0]",
         set={ENV: {"aws.role_accounts": ["*"]}}),
    Case("role-accounts-with-newline", "contains the control character", file=ENV,
         field="aws.role_accounts[0]",
         set={ENV: {"aws.role_accounts": ["999999999999\n::error::x"]}},
         environ={"GITHUB_ACTIONS": "true"}),
    Case("role-accounts-not-a-list", "expected a list", file=ENV, field="aws.role_accounts",
         set={ENV: {"aws.role_accounts": "999999999999"}}),
    rel("s3-key-wildcard", "services.worker.s3_files[0].key", "*", NO_WILDCARD),
    rel("s3-key-inner-wildcard", "services.worker.s3_files[0].key", "models/*/x", NO_WILDCARD),
    rel("s3-key-absolute", "services.worker.s3_files[0].key", "/etc/passwd", NO_WILDCARD),
    rel("s3-key-climbs", "services.worker.s3_files[0].key", "a/../../b", NO_WILDCARD),
    rel("repository-wildcard", "services.web.repository", "*", NO_WILDCARD),
    Case("template-task-role-wildcard", "is not an IAM role ARN", file=TASK,
         field="taskRoleArn", set={TASK: {"taskRoleArn": "*"}}),
    Case("template-execution-role-any-account", "is not an IAM role ARN", file=TASK,
         field="executionRoleArn", set={TASK: {"executionRoleArn": "arn:aws:iam::*:role/x"}}),
    Case("template-role-unknown-placeholder", "is not an IAM role ARN", file=TASK,
         field="taskRoleArn", set={TASK: {"taskRoleArn": "arn:aws:iam::1:role/${anything}"}}),
    Case("template-role-other-account", "not in this environment's account", file=ENV,
         field="services.web",
         set={TASK: {"taskRoleArn": "arn:aws:iam::999999999999:role/x"},
              ENV: {"services.web.ecs.task_role_arn": DELETE}}),
]

CRASHES = [
    Case("top-level-number-key", "is read by YAML as a number", file=REL,
         write={REL: "version: 1\n123: {}\nservices:\n  web: {context: ., lambda: {}}\n"}),
    Case("top-level-boolean-key", "is read by YAML as true or false", file=REL,
         write={REL: "version: 1\ntrue: {}\nservices:\n  web: {context: ., lambda: {}}\n"}),
    Case("null-key", "is read by YAML as nothing", file=REL,
         write={REL: "version: 1\n~: x\nservices:\n  web: {context: ., lambda: {}}\n"}),
    Case("numeric-variable-name", "is read by YAML as a number", file=ENV,
         write={ENV: "name: dev\nregistry: {type: oci, host: r.example.com}\nservices:\n"
                     "  worker:\n    lambda:\n      environment:\n        1: info\n"}),
    Case("boolean-variable-name", "is read by YAML as true or false", file=ENV,
         write={ENV: "name: dev\nregistry: {type: oci, host: r.example.com}\nservices:\n"
                     "  worker:\n    lambda:\n      environment:\n        on: info\n"}),
    Case("numeric-build-arg-name", "is read by YAML as a number", file=REL,
         write={REL: "version: 1\nservices:\n  web:\n    context: services/web\n"
                     "    build_args: {1: x}\n    lambda: {}\n"}),
    Case("numeric-service-name", "is read by YAML as a number", file=REL,
         write={REL: "version: 1\nservices:\n  7:\n    context: services/web\n    lambda: {}\n"}),
    rel("s3-key-unknown-placeholder", "services.worker.s3_files[0].key", "models/${nope}/",
        "unknown placeholder '${nope}'"),
    rel("s3-key-unknown-placeholder-trust-policy", "services.worker.s3_files[0].key",
        "models/${nope}/", "unknown placeholder '${nope}'", argv=TRUST),
    Case("template-too-large-render", "config files are limited to 1024 KiB", file=TASK,
         write={TASK: '{"family": "web", "x": "' + "a" * (2 << 20) + '"}'},
         argv=("render", "--env", "dev", "web")),
]

INJECTED = "dev\n::warning file=x::INJECTED"
CONTROL = "contains the control character"
CONTROLS = [
    env("cluster-forges-a-workflow-command", "ecs.cluster", INJECTED, CONTROL,
        environ={"GITHUB_ACTIONS": "true"}),
    rel("container-forges-a-workflow-command", "services.web.ecs.container",
        "web\n::error::INJECTED", CONTROL, environ={"GITHUB_ACTIONS": "true"}),
    env("environment-value-with-newline", "services.web.ecs.environment.LOG_LEVEL",
        "info\n::error::INJECTED", CONTROL, environ={"GITHUB_ACTIONS": "true"}),
    env("lambda-value-with-carriage-return", "services.worker.lambda.environment.MODEL_NAME",
        "q\r::error::INJECTED", CONTROL),
    env("environment-value-with-escape", "services.web.ecs.environment.LOG_LEVEL",
        "\x1b[31mred", CONTROL),
    env("environment-value-with-line-separator", "services.web.ecs.environment.LOG_LEVEL",
        "a\u2028::error::x", CONTROL),
    Case("environment-name-with-newline", "is not a valid name here", file=ENV,
         field="services.web.ecs.environment.A\\n::error::x",
         write={ENV: BASE[ENV].replace("LOG_LEVEL: info", '"A\\n::error::x": "1"')}),
    rel("build-arg-value-with-newline", "defaults.build_args.PYTHON_VERSION",
        "3.12\n::error::x", CONTROL),
    rel("s3-key-with-newline", "services.worker.s3_files[0].key", "models/\n::error::x",
        CONTROL),
    env("family-with-escape", "services.web.ecs.family", "dev\x1bweb", CONTROL),
    Case("watch-path-with-newline", CONTROL, file=REL, field="services.web.watch[0]",
         set={REL: {"services.web.watch": ["libs\n::error::x"]}}),
    env("azure-app-name-with-newline", "services.batch.azure_container_app.name",
        "batch\n::error::x", CONTROL),
]

ALLOWED = [
    env("endpoint-loopback-is-allowed", "aws.endpoint_url", "http://127.0.0.1:5000", "", exit=0),
    env("endpoint-localhost-is-allowed", "aws.endpoint_url", "http://localhost:5000", "",
        exit=0),
    env("endpoint-ipv6-loopback-is-allowed", "aws.endpoint_url", "http://[::1]:5000", "",
        exit=0),
    env("ecr-host-of-the-account-is-allowed", "registry.host",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "", exit=0),
    env("acr-sovereign-host-is-allowed", "services.batch.registry.host", "acmebatch.azurecr.cn",
        "", exit=0),
    env("oci-any-host-is-allowed", "registry", {"type": "oci", "host": "ghcr.io"}, "", exit=0),
    Case("cross-account-role-listed-is-allowed", "", exit=0, set={ENV: {
        "aws.role_accounts": ["999999999999"],
        "services.web.ecs.task_role_arn": "arn:aws:iam::999999999999:role/x"}}),
    Case("link-inside-the-repository-is-allowed", "", exit=0,
         links={f"{MODEL}/copy.txt": "weights.txt"}),
    Case("template-role-with-placeholders-is-allowed", "", exit=0, set={TASK: {
        "taskRoleArn": "arn:aws:iam::${account_id}:role/${env}-${service}-task"}}),
]

CASES = [*ENDPOINTS, *PATHS, *IAM_NAMES, *CRASHES, *CONTROLS, *ALLOWED]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_config_is_refused(case: Case, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)


def test_the_suite_covers_every_kind() -> None:
    kinds = {"endpoints": ENDPOINTS, "paths": PATHS, "iam": IAM_NAMES, "crashes": CRASHES,
             "controls": CONTROLS}
    assert all(len(cases) >= 10 for cases in kinds.values())
    assert len(CASES) >= 100
