"""Hostile input to `release init`: it writes files into the repository, so a link among
its directories, an existing file, or an argument of the wrong shape stops it before any
cloud call and before any write."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Case, check, run

INIT = ("init", "--env", "prod", "--ecs", "shop/orders", "--region", "eu-west-1",
        "--endpoint-url", "http://127.0.0.1:9")

CASES = [
    Case("init-over-release-yaml", "'release.yaml' exists already", argv=INIT),
    Case("init-through-a-linked-deploy-dir", "deploy is a symbolic link",
         remove=("release.yaml", "environments/dev.yaml"), links={"deploy": "{outside}"},
         argv=INIT),
    Case("init-through-a-linked-workflows-dir", "is a symbolic link",
         remove=("release.yaml", "environments/dev.yaml"),
         links={".github": "{outside}"}, argv=INIT),
    Case("init-endpoint-not-loopback", "loopback",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=(*INIT[:-1], "http://10.0.0.5:5000")),
    Case("init-ecs-without-cluster", "not CLUSTER/SERVICE",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=("init", "--env", "prod", "--ecs", "orders", "--region", "eu-west-1",
               "--endpoint-url", "http://127.0.0.1:9")),
    Case("init-role-arn-with-a-wildcard", "--role-arn",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=(*INIT, "--role-arn", "arn:aws:iam::123456789012:role/*")),
    Case("init-region-with-a-workflow-command", "--region",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=("init", "--env", "prod", "--ecs", "shop/orders",
               "--region", "eu-west-1\n::error::forged")),
    Case("init-account-not-twelve-digits", "--account-id",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=(*INIT, "--account-id", "12345")),
    Case("init-tool-repository-with-a-space", "--tool-repository",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=(*INIT, "--tool-repository", "acme/tools; curl evil")),
    Case("init-lambda-arn-with-a-newline", "--lambda",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=("init", "--env", "prod", "--lambda", "fn\n::error::x", "--region", "eu-west-1")),
    Case("init-nothing-named", "nothing to adopt",
         remove=("release.yaml", "environments/dev.yaml"),
         argv=("init", "--env", "prod", "--region", "eu-west-1")),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_init(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    assert not (root / "environments" / "prod.yaml").exists()  # nothing half-written



SCHEMA_CASES = [
    Case("schema-write-through-a-linked-dir", "schemas is a symbolic link",
         links={"schemas": "{outside}"}, argv=("schema", "--write", "schemas")),
    Case("schema-write-outside-the-repository", "is not a path inside the repository",
         argv=("schema", "--write", "../escape")),
    Case("schema-write-absolute", "is not a path inside the repository",
         argv=("schema", "--write", "/tmp/escape")),
]


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=str)
def test_hostile_schema_write(case: Case, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
