"""The local cloud runs Lambda images: Invoke on an image function starts its image on the
local engine, serves it the Lambda Runtime API inside its own network namespace and answers
as Lambda does. quetzal (the examples' busybox Runtime API loop, unchanged) is deployed with
`release deploy --env local` and invoked through its alias; a function whose handler fails,
one that outlives its timeout and one whose runtime exits use a tiny image built here.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
from private_cloud import examples_repo, local_environ, private_cloud

from release.cli import main
from release.local.base_images import BUSYBOX_IMAGE
from release.local.lambda_.environment import LAMBDA_LABEL
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

FUNCTION, ALIAS = "local-quetzal", "live"
# A custom runtime in busybox sh whose behaviour the function's MODE variable picks.
BOOTSTRAP = """#!/bin/sh
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while :; do
  headers=$(wget -S -O /tmp/event "$api/invocation/next" 2>&1) || { sleep 1; continue; }
  id=$(printf '%s\\n' "$headers" | tr -d '\\r' |
    sed -n 's/^ *[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p')
  echo "event for $id in $AWS_LAMBDA_FUNCTION_NAME version $AWS_LAMBDA_FUNCTION_VERSION"
  case "$MODE" in
    fail) echo "the input is bad" >&2
          wget -q -O /dev/null --header 'Lambda-Runtime-Function-Error-Type: ValueError' \\
            --post-data '{"errorType":"ValueError","errorMessage":"the input is bad"}' \\
            "$api/invocation/$id/error" ;;
    sleep) sleep 60 ;;
    exit) echo "giving up" >&2; exit 3 ;;
    *) wget -q -O /dev/null --post-file /tmp/event "$api/invocation/$id/response" ;;
  esac
done
"""
DOCKERFILE = f"""\
FROM {BUSYBOX_IMAGE}
COPY bootstrap /var/runtime/bootstrap
RUN chmod 0755 /var/runtime/bootstrap
ENTRYPOINT ["/var/runtime/bootstrap"]
"""


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (15700-15702); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15700) as state:
        yield state


@pytest.fixture(scope="module")
def lam(cloud_state: LocalState) -> Iterator[Any]:
    client = boto3.client("lambda", endpoint_url=cloud_state.aws_endpoint_url,
                          region_name=cloud_state.region, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    yield client
    client.close()


@pytest.fixture(scope="module")
def role(cloud_state: LocalState) -> str:
    """A role Lambda may assume (moto checks that it exists)."""
    iam = boto3.client("iam", endpoint_url=cloud_state.aws_endpoint_url,
                       region_name=cloud_state.region, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=f"e2e-lambda-{secrets.token_hex(3)}",
                          AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.close()
    return str(arn)


@pytest.fixture(scope="module")
def engine(cloud_state: LocalState) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=cloud_state.docker_host, timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
def runtime_image(cloud_state: LocalState, engine: docker.DockerClient, role: str,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """``(<registry>/e2e/lambda-modes@sha256:..., role ARN)``: the image built here, pushed
    and removed locally, and a role for the functions that run it."""
    context = tmp_path_factory.mktemp("lambda-image")
    (context / "bootstrap").write_text(BOOTSTRAP)
    (context / "Dockerfile").write_text(DOCKERFILE)
    repository = f"{cloud_state.registry_host}/e2e/lambda-modes"
    tag = secrets.token_hex(4)
    engine.images.build(path=str(context), tag=f"{repository}:{tag}", rm=True,
                        network_mode="none")
    auth = {"username": cloud_state.registry_username,
            "password": cloud_state.registry_password}
    errors = [line["error"] for line in engine.api.push(repository, tag, stream=True,
                                                        decode=True, auth_config=auth)
              if isinstance(line, dict) and line.get("error")]
    assert not errors, errors
    digest = engine.images.get(f"{repository}:{tag}").attrs["RepoDigests"][0]
    engine.images.remove(f"{repository}:{tag}")  # the environment pulls it, with credentials
    return str(digest), role


def make_function(lam: Any, image: tuple[str, str], mode: str, timeout: int = 10) -> str:
    """A new image function running ``image`` in ``mode``, published, alias ``live``."""
    name = f"e2e-{mode}-{secrets.token_hex(3)}"
    lam.create_function(FunctionName=name, PackageType="Image", Code={"ImageUri": image[0]},
                        Role=image[1], Timeout=timeout,
                        Environment={"Variables": {"MODE": mode}}, Publish=True)
    lam.create_alias(FunctionName=name, Name=ALIAS, FunctionVersion="1")
    return name


def environments(engine: docker.DockerClient, function: str) -> list[Any]:
    """The containers of ``function``'s execution environments (pause ones included)."""
    return [c for c in engine.containers.list(all=True, filters={"label": LAMBDA_LABEL})
            if f":function:{function}:" in c.labels[LAMBDA_LABEL]]


def payload(answer: dict[str, Any]) -> Any:
    return json.loads(answer["Payload"].read())


def test_quetzal_deployed_by_a_release_answers_through_its_alias(
        tmp_path: Path, cloud_state: LocalState, lam: Any, engine: docker.DockerClient,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = examples_repo(tmp_path, cloud_state)
    code = main(["deploy", "--env", "local", "--root", str(root), "--output", "json",
                 "quetzal"], environ=local_environ())
    _out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    version = lam.get_alias(FunctionName=FUNCTION, Name=ALIAS)["FunctionVersion"]
    first = lam.invoke(FunctionName=FUNCTION, Qualifier=ALIAS, LogType="Tail",
                       Payload=json.dumps({"input": "sample-1"}))
    assert first["StatusCode"] == 200
    assert "FunctionError" not in first
    assert first["ExecutedVersion"] == version
    assert payload(first) == {"model_prefix": "s3://release-local-artifacts/models/local/",
                              "model_name": "quetzal", "input": "sample-1", "score": 0.5}
    tail = base64.b64decode(first["LogResult"]).decode()
    assert f"Version: {version}" in tail
    assert "REPORT RequestId:" in tail
    second = lam.invoke(FunctionName=f"{FUNCTION}:{ALIAS}",
                        Payload=json.dumps({"input": "sample-2"}))
    assert payload(second)["input"] == "sample-2"
    assert len(environments(engine, FUNCTION)) == 2  # one warm environment: pause + function
    logs = boto3.client("logs", endpoint_url=cloud_state.aws_endpoint_url,
                        region_name=cloud_state.region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{FUNCTION}")["events"]
    assert sum(e["message"].startswith("START RequestId:") for e in events) == 2
    code = main(["invoke", "--env", "local", "--root", str(root), "quetzal",
                 "--payload", '{"input": "from-the-cli"}'], environ=local_environ())
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["input"] == "from-the-cli", out


def test_a_failing_handler_answers_unhandled_with_its_error(
        lam: Any, runtime_image: tuple[str, str]) -> None:
    name = make_function(lam, runtime_image, "fail")
    answer = lam.invoke(FunctionName=name, Qualifier=ALIAS, LogType="Tail", Payload=b"{}")
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert payload(answer) == {"errorType": "ValueError", "errorMessage": "the input is bad"}
    assert "the input is bad" in base64.b64decode(answer["LogResult"]).decode()


def test_a_handler_past_its_timeout_is_stopped_and_reported(
        lam: Any, runtime_image: tuple[str, str], engine: docker.DockerClient) -> None:
    name = make_function(lam, runtime_image, "sleep", timeout=2)
    answer = lam.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    error = payload(answer)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in error["errorMessage"]
    deadline = time.monotonic() + 30
    while environments(engine, name) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert environments(engine, name) == []  # a timed-out environment is not kept


def test_a_runtime_that_exits_fails_the_invocation(
        lam: Any, runtime_image: tuple[str, str]) -> None:
    name = make_function(lam, runtime_image, "exit")
    answer = lam.invoke(FunctionName=name, Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert payload(answer)["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload_text(lam, name)


def payload_text(lam: Any, name: str) -> str:
    """The error message of another invocation of ``name`` (a fresh environment)."""
    return str(payload(lam.invoke(FunctionName=name, Payload=b"{}"))["errorMessage"])


def test_an_alias_with_weights_runs_both_versions(
        lam: Any, runtime_image: tuple[str, str]) -> None:
    name = make_function(lam, runtime_image, "echo")
    lam.update_function_configuration(FunctionName=name,
                                      Environment={"Variables": {"MODE": "echo", "V": "2"}})
    second = lam.publish_version(FunctionName=name)["Version"]
    lam.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {second: 0.5}})
    seen = {lam.invoke(FunctionName=name, Qualifier=ALIAS, Payload=b'{"n": 1}')[
        "ExecutedVersion"] for _ in range(16)}
    assert seen == {"1", second}  # 2 ** -15 odds of a false failure
    dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_a_reset_of_moto_stops_every_environment(
        cloud_state: LocalState, lam: Any, runtime_image: tuple[str, str],
        engine: docker.DockerClient) -> None:
    name = make_function(lam, runtime_image, "echo")
    assert payload(lam.invoke(FunctionName=name, Payload=b'{"warm": true}')) == {"warm": True}
    assert environments(engine, name)
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
        f"{cloud_state.aws_endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
        assert answer.status == 200
    assert engine.containers.list(all=True, filters={"label": LAMBDA_LABEL}) == []
