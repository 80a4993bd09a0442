"""Hostile environment vars: values and names a branch could commit to forge log lines,
leak a credential, redefine a built-in placeholder or crash the tool. Each is refused with
exit 2, a located message and a hint, having opened nothing outside and connected nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import BASE, Case, check, check_no_injected_commands, ids, run

ENV = "environments/dev.yaml"
TASK = "services/web/task.json"
FLOW = "services/worker/flow.asl.json"
PROD = "environments/prod.yaml"
CONTROL = "contains the control character"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOT_A_NAME = "is not a valid name here"
GITHUB = {"GITHUB_ACTIONS": "true"}
# the template uses ${domain}, which each case's vars: define (or break)
USES_DOMAIN = {TASK: {"containerDefinitions[0].environment[0].value": "${domain}"}}


def var(name: str, key: str, value: Any, message: str, **extra: Any) -> Case:
    """A case that sets one var in environments/dev.yaml."""
    extra.setdefault("field", f"vars.{key}")
    return Case(name, message, file=ENV, set={ENV: {f"vars.{key}": value}}, **extra)


def vars_file(name: str, text: str, message: str, field: str | None, **extra: Any) -> Case:
    """A case that writes the vars: block of environments/dev.yaml as text."""
    return Case(name, message, file=ENV, field=field,
                write={ENV: BASE[ENV] + text}, **extra)


CASES = [
    var("value-with-newline-forges-a-command", "domain", "x\n::error::INJECTED", CONTROL,
        environ=GITHUB),
    var("value-with-carriage-return", "domain", "x\r::warning::INJECTED", CONTROL,
        environ=GITHUB),
    var("value-with-escape", "domain", "\x1b[31mred", CONTROL),
    var("value-with-line-separator", "domain", "a\u2028::error::x", CONTROL),
    var("value-with-nul-escape", "domain", "a\x00b", CONTROL),
    var("value-with-c1-control", "domain", "a\x85::error::x", CONTROL),
    var("value-is-an-aws-secret-key", "AWS_SECRET_ACCESS_KEY", SECRET, "plaintext credential",
        secret=SECRET),
    var("value-named-password", "db_password", "hunter2-correct-horse",
        "plaintext credential", secret="hunter2-correct-horse"),
    var("value-is-a-private-key-header", "tls", "-----BEGIN RSA PRIVATE KEY-----MIIEow",
        "plaintext credential", secret="MIIEow"),
    var("shadows-env", "env", "prod", NOT_A_NAME),
    var("shadows-region", "region", "us-east-1", NOT_A_NAME),
    var("shadows-account-id", "account_id", "999999999999", NOT_A_NAME),
    var("shadows-function-arn", "function_arn", "arn:aws:lambda:eu-west-1:999999999999:"
        "function:evil", NOT_A_NAME),
    var("name-with-dash", "bad-name", "x", NOT_A_NAME),
    var("name-starting-with-digit", "1st", "x", NOT_A_NAME),
    var("value-is-a-number", "replicas", 3, "expected a string"),
    var("value-is-a-list", "hosts", ["a", "b"], "expected a string"),
    var("value-is-a-mapping", "db", {"host": "x"}, "expected a string"),
    var("huge-value", "domain", "a" * 100_000, "is too long"),
    vars_file("name-with-newline", 'vars:\n  "a\\n::error::x": "1"\n', NOT_A_NAME,
              field="vars.a\\n::error::x",
              environ=GITHUB),
    vars_file("key-is-a-number", "vars:\n  123: x\n", "is read by YAML as a number",
              field=None),
    vars_file("key-is-a-boolean", "vars:\n  true: x\n", "is read by YAML as true or false",
              field=None),
    vars_file("key-is-null", "vars:\n  ~: x\n", "is read by YAML as nothing", field=None),
    vars_file("vars-is-a-list", "vars:\n  - domain\n", "expected a mapping", field="vars"),
    vars_file("vars-is-text", "vars: domain=x\n", "expected a mapping", field="vars"),
    # prod defines the var, dev does not: located in dev, where it is missing
    Case("template-var-undefined-in-one-environment", "does not define", file=ENV,
         field="services.web", set=USES_DOMAIN,
         write={PROD: BASE[ENV].replace("name: dev", "name: prod") + "vars:\n  domain: x\n"}),
    Case("definition-var-undefined-in-one-environment", "does not define", file=ENV,
         field="vars", set={FLOW: {"Comment": "${stage}"}, ENV: {"vars.domain": "x"}},
         write={PROD: BASE[ENV].replace("name: dev", "name: prod") + "vars:\n  stage: x\n"}),
    # no environment defines it: a typo, located in the template
    Case("template-var-defined-nowhere", "unknown placeholder '${domain}'", file=TASK,
         field="containerDefinitions[0].environment[0].value", set=USES_DOMAIN),
    Case("definition-var-defined-nowhere", "unknown placeholder '${stage}'", file=FLOW,
         field="Comment", set={FLOW: {"Comment": "${stage}"}}),
    Case("template-placeholder-that-is-no-name", "unknown placeholder", file=TASK,
         field="containerDefinitions[0].environment[0].value",
         set={TASK: {"containerDefinitions[0].environment[0].value": "${a-b}"}}),
    Case("template-var-defined-is-allowed", "", exit=0,
         set={**USES_DOMAIN, ENV: {"vars.domain": "dev.example.com"}}),
    Case("definition-var-defined-is-allowed", "", exit=0,
         set={FLOW: {"Comment": "${stage}"}, ENV: {"vars.stage": "dev"}}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_vars_are_refused(case: Case, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    check_no_injected_commands(case, outcome)
