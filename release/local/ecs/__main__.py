"""``python -m release.local.ecs``: the control plane process `release local up` starts.

It serves the ECS API front on ``--port`` (what releases use as the AWS endpoint), forwards
everything else to moto at ``--moto-url``, and runs services as containers on the engine at
``--docker-host``. SIGTERM stops it: the listeners close and every task is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from release.adapters.aws.clients import LOCAL_CREDENTIALS
from release.local.ecs.api import EcsFront
from release.local.ecs.model import Timing
from release.local.ecs.plane import Plane
from release.local.ecs.runtime import DockerRuntime
from release.local.lambda_.invoke import LambdaFront
from release.local.lambda_.serve import lambda_front

MINUTE_ENV = "RELEASE_LOCAL_ECS_MINUTE_SECONDS"  # the default of --minute-seconds
PORTS_FILE = "ecs-ports.json"  # service -> its listener's port, kept across restarts


def _client(name: str, moto_url: str, region: str) -> Any:
    import botocore.session  # the child process only

    session = botocore.session.Session()
    session.set_credentials(LOCAL_CREDENTIALS["aws_access_key_id"],
                            LOCAL_CREDENTIALS["aws_secret_access_key"])
    return session.create_client(name, region_name=region, endpoint_url=moto_url)


def _secret(ssm: Any, secrets: Any, value_from: str) -> str:
    """An SSM parameter (name or ARN) or Secrets Manager secret; KeyError when missing."""
    try:
        if ":secretsmanager:" in value_from:
            found: str = secrets.get_secret_value(SecretId=value_from)["SecretString"]
            return found
        name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
        parameter: str = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:  # moto answers ParameterNotFound / ResourceNotFoundException
        raise KeyError(value_from) from exc
    return parameter


def _put_logs(logs: Any, group: str, stream: str, lines: Sequence[str]) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now, "message": line} for line in lines])


def _in_alarm(cloudwatch: Any, names: Sequence[str]) -> set[str]:
    """Which of the named CloudWatch alarms are in ALARM now (moto's DescribeAlarms)."""
    found = cloudwatch.describe_alarms(AlarmNames=list(names)[:100])
    return {a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get(
        "CompositeAlarms", []) if a.get("StateValue") == "ALARM"}


def _invoke(lambda_: Any, arn: str, payload: Mapping[str, Any]) -> Any:
    """Invoke a lifecycle hook's function through the front (so whatever runs Lambda locally
    answers it; moto otherwise): its decoded JSON answer, or a string saying what it was."""
    answer = lambda_.invoke(FunctionName=arn, Payload=json.dumps(payload).encode())
    raw = answer["Payload"].read(64 * 1024).decode("utf-8", "replace")
    if answer.get("FunctionError"):
        return f"the function failed ({answer['FunctionError']}): {raw[:160]}"
    try:
        return json.loads(raw)
    except ValueError:
        return f"the function answered something that is not JSON: {raw[:160]}"


def build(options: argparse.Namespace) -> tuple[Plane, EcsFront, LambdaFront]:
    """The plane, the Lambda runtime and their front, wired to moto and the engine (not
    started)."""
    state = json.loads((Path(options.state_dir) / "state.json").read_text(encoding="utf-8"))
    login = (str(state.get("registry_username", "AWS")), str(state.get("registry_password", "")))
    ssm, secrets = (_client(n, options.moto_url, options.region)
                    for n in ("ssm", "secretsmanager"))
    logs, ecs = (_client(n, options.moto_url, options.region) for n in ("logs", "ecs"))
    timing = Timing(poll_seconds=options.poll_seconds, minute_seconds=options.minute_seconds)
    cloudwatch = _client("cloudwatch", options.moto_url, options.region)
    lambda_ = _client("lambda", f"http://127.0.0.1:{options.port}", options.region)

    def registry_auth(host: str) -> tuple[str, str] | None:
        return login if host == options.registry_host else None

    def put_logs(group: str, stream: str, lines: Sequence[str]) -> None:
        _put_logs(logs, group, stream, lines)

    runtime = DockerRuntime(
        options.docker_host, secret=lambda value_from: _secret(ssm, secrets, value_from),
        registry_auth=registry_auth, clock=time.time, timing=timing, plane=options.label,
        put_logs=put_logs)
    plane = Plane(runtime, lambda arn: ecs.describe_task_definition(
        taskDefinition=arn)["taskDefinition"], region=options.region,
        account_id=options.account_id, timing=timing,
        ports_file=Path(options.state_dir) / PORTS_FILE,
        alarms=lambda names: _in_alarm(cloudwatch, names),
        invoke=lambda arn, payload: _invoke(lambda_, arn, payload))
    existing = []
    for cluster in ecs.list_clusters().get("clusterArns", []):
        names = ecs.list_services(cluster=cluster).get("serviceArns", [])
        for start in range(0, len(names), 10):
            existing += ecs.describe_services(cluster=cluster,
                                              services=names[start:start + 10])["services"]
    plane.adopt_existing(existing)
    functions = lambda_front(
        _client("lambda", options.moto_url, options.region), docker_host=options.docker_host,
        plane=options.label, region=options.region, registry_auth=registry_auth,
        put_logs=put_logs, idle_seconds=options.lambda_idle_seconds)
    return plane, EcsFront(options.port, options.moto_url, plane,
                           routes=(functions,)), functions


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m release.local.ecs")
    for flag in ("--state-dir", "--moto-url", "--docker-host", "--registry-host", "--region",
                 "--account-id"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--label", default="local-cloud")
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    # how long one ECS minute (bake times, canary and linear steps) lasts on the local cloud
    parser.add_argument("--minute-seconds", type=float,
                        default=float(os.environ.get(MINUTE_ENV, "1.0")))
    parser.add_argument("--lambda-idle-seconds", type=float, default=300.0)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    plane, front, functions = build(options)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    front.start()
    try:
        plane.run(stop)
    finally:
        front.close()
        functions.close()
        plane.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
