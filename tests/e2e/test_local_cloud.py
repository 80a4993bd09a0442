"""The embedded local cloud, for real: Docker engine, registry, moto and OIDC issuer.

The e2e tests need root (apt-get, dockerd) and ports 18000-18002 and 5010-5012 free.
The few unmarked tests at the end check the pure pieces the local cloud is built from.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import docker
import docker.errors
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from release.errors import ReleaseError
from release.local import cloud, oidc_tokens
from release.local.base_images import BUSYBOX_IMAGE
from release.local.processes import Launch, Started, Stopped, is_running, launch, stop
from release.local.state import Component, LocalState, from_json, read_state, to_json
from release.local.waiting import Timing, wait_until

OptionsFactory = Callable[..., cloud.Options]

# ---------------------------------------------------------------- end to end


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - 127.0.0.1
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _oidc_token(state: LocalState, audience: str, bearer: str) -> str:
    url = f"{state.oidc_request_url}&audience={audience}"
    value: str = _get_json(url, {"Authorization": f"Bearer {bearer}"})["value"]
    return value


def _verify_rs256(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify like a relying party would, independently of the issuer's own code."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(_b64url_decode(header_b64))
    assert header["alg"] == "RS256"
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    public_key = rsa.RSAPublicNumbers(
        e=int.from_bytes(_b64url_decode(jwk["e"]), "big"),
        n=int.from_bytes(_b64url_decode(jwk["n"]), "big"),
    ).public_key()
    public_key.verify(  # raises InvalidSignature
        _b64url_decode(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(_b64url_decode(claims_b64))
    return claims


@pytest.mark.e2e
def test_registry_login_uses_the_moto_ecr_token_and_accepts_a_push(
    local_cloud: LocalState, docker_client: docker.DockerClient, ecr_login: tuple[str, str]
) -> None:
    user, password = ecr_login
    assert user == "AWS"
    registry = local_cloud.registry_host
    with pytest.raises(docker.errors.APIError):
        docker_client.login(username=user, password="wrong", registry=registry, reauth=True)
    docker_client.login(username=user, password=password, registry=registry, reauth=True)

    tag = secrets.token_hex(4)
    repository = f"{registry}/e2e/busybox"
    assert docker_client.images.get(BUSYBOX_IMAGE).tag(repository, tag)
    events = list(docker_client.images.push(
        repository, tag, stream=True, decode=True,
        auth_config={"username": user, "password": password},
    ))
    errors = [event for event in events if "error" in event]
    assert errors == []
    digest = next(e["aux"]["Digest"] for e in events if "aux" in e)

    manifest_url = f"http://{registry}/v2/e2e/busybox/manifests/{tag}"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        _get_json(manifest_url)
    anonymous.value.close()
    assert anonymous.value.code == 401
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(manifest_url, headers={
        "Authorization": f"Basic {basic}",
        "Accept": "application/vnd.docker.distribution.manifest.v2+json",
    })
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.headers["Docker-Content-Digest"] == digest


@pytest.mark.e2e
def test_base_image_builds_dockerfiles_without_a_network(
    local_cloud: LocalState, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo built-here > /hello && chmod 644 /hello\n"
    )
    image, _ = docker_client.images.build(
        path=str(tmp_path), buildargs={"BASE_IMAGE": BUSYBOX_IMAGE}, network_mode="none",
        rm=True,
    )
    output = docker_client.containers.run(
        image.id, ["cat", "/hello"], network_mode="none", remove=True
    )
    assert output == b"built-here\n"


@pytest.mark.e2e
def test_oidc_token_verifies_against_the_served_jwks(local_cloud: LocalState) -> None:
    discovery = _get_json(f"{local_cloud.oidc_issuer}/.well-known/openid-configuration")
    assert discovery["issuer"] == local_cloud.oidc_issuer
    jwks = _get_json(discovery["jwks_uri"])

    token = _oidc_token(local_cloud, "sts.amazonaws.com", local_cloud.oidc_request_token)
    claims = _verify_rs256(token, jwks)

    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["iss"] == discovery["issuer"]
    assert claims["sub"].startswith(f"repo:{claims['repository']}:")
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - time.time()) < 60
    other = _verify_rs256(_oidc_token(local_cloud, "api://AzureADTokenExchange",
                                      local_cloud.oidc_request_token), jwks)
    assert other["aud"] == "api://AzureADTokenExchange"


@pytest.mark.e2e
def test_oidc_token_endpoint_refuses_a_wrong_request_token(local_cloud: LocalState) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        _oidc_token(local_cloud, "sts.amazonaws.com", "not-the-token")
    refused.value.close()
    assert refused.value.code == 401


@pytest.mark.e2e
def test_moto_answers_sts_and_ecs_services_run_their_tasks(
    local_cloud: LocalState, aws: dict[str, Any]
) -> None:
    sts = boto3.client("sts", **aws)
    assert sts.get_caller_identity()["Account"] == local_cloud.account_id
    ecs = boto3.client("ecs", **aws)
    cluster = f"e2e-{secrets.token_hex(4)}"
    ecs.create_cluster(clusterName=cluster)
    arn = ecs.register_task_definition(
        family=cluster,
        containerDefinitions=[{"name": "app", "image": BUSYBOX_IMAGE, "memory": 64,
                               "command": ["sleep", "3600"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=arn, desiredCount=1)
    deadline = time.monotonic() + 30  # the control plane runs the task as a container
    while True:
        (service,) = ecs.describe_services(cluster=cluster, services=["web"])["services"]
        if service["deployments"][0]["rolloutState"] == "COMPLETED" or (
                time.monotonic() > deadline):
            break
        time.sleep(0.5)
    assert service["runningCount"] == service["desiredCount"] == 1
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    [task] = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(
        cluster=cluster, serviceName="web")["taskArns"])["tasks"]
    assert task["lastStatus"] == "RUNNING"
    ecs.delete_service(cluster=cluster, service="web", force=True)
    sts.close()
    ecs.close()


@pytest.mark.e2e
def test_a_second_up_starts_nothing(
    local_cloud: LocalState, local_options: OptionsFactory
) -> None:
    again = cloud.up(local_options(), cloud.Deps())
    assert again.started == ()
    pids = {name: c.pid for name, c in again.state.components.items()}
    assert pids == {name: c.pid for name, c in local_cloud.components.items()}
    recorded = read_state(Path(local_cloud.state_dir))
    assert recorded is not None
    assert recorded.components == again.state.components


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.e2e
def test_down_stops_exactly_the_recorded_pids(
    local_cloud: LocalState, local_options: OptionsFactory, tmp_path: Path
) -> None:
    ports = {"moto_port": 5010, "registry_port": 5011, "oidc_port": 5012, "azure_port": 5013,
             "acr_port": 5014}
    assert all(_free(port) for port in ports.values()), "ports 5010-5014 must be free"
    options = local_options(state_dir=tmp_path / "state", **ports)
    second = cloud.up(options, cloud.Deps()).state
    try:
        assert set(second.components) == {"docker", "moto", "registry", "oidc", "ecs", "acr",
                                          "azure"}
        assert not second.components["docker"].owned  # the first instance's engine
        ours = {name: c for name, c in second.components.items() if c.owned}
        assert set(ours) == {"moto", "registry", "oidc", "ecs", "acr", "azure"}
        assert all(is_running(c.pid, c.proc_start) for c in ours.values() if c.pid)
    finally:
        reports = cloud.down(options.state_dir, cloud.Deps())

    outcomes = {report.name: (report.pid, report.outcome) for report in reports}
    assert outcomes == {
        "azure": (ours["azure"].pid, "terminated"),
        "acr": (ours["acr"].pid, "terminated"),
        "ecs": (ours["ecs"].pid, "terminated"),
        "oidc": (ours["oidc"].pid, "terminated"),
        "registry": (ours["registry"].pid, "terminated"),
        "moto": (ours["moto"].pid, "terminated"),
        "docker": (None, "left running (not ours)"),
    }
    assert not any(is_running(c.pid, c.proc_start) for c in ours.values() if c.pid)
    assert all(_free(port) for port in ports.values())
    for component in local_cloud.components.values():  # the first instance is untouched
        assert component.pid is None or is_running(component.pid, component.proc_start)
    after = read_state(options.state_dir)
    assert after is not None
    assert after.components == {}
    assert cloud.down(options.state_dir, cloud.Deps()) == []


@pytest.mark.e2e
def test_up_refuses_a_port_taken_by_another_process(
    local_cloud: LocalState, local_options: OptionsFactory, tmp_path: Path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        free = []
        for _ in range(2):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                free.append(probe.getsockname()[1])
        options = local_options(state_dir=tmp_path / "state", moto_port=port,
                                registry_port=free[0], oidc_port=free[1])
        with pytest.raises(ReleaseError, match=f"127.0.0.1:{port} is already in use"):
            cloud.up(options, cloud.Deps())
    assert cloud.down(options.state_dir, cloud.Deps()) == []  # refused before anything


# ---------------------------------------------------------------- pure pieces


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_gives_up_at_the_deadline_without_sleeping_past_it() -> None:
    fake = FakeTime()
    assert not wait_until(lambda: False, 1.0, Timing(fake.clock, fake.sleep), interval=0.3)
    assert fake.now == pytest.approx(1.0)
    assert fake.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])


def test_wait_until_returns_as_soon_as_the_check_passes() -> None:
    fake = FakeTime()
    assert wait_until(lambda: fake.now >= 0.4, 10.0, Timing(fake.clock, fake.sleep), 0.2)
    assert fake.now == pytest.approx(0.4)


def test_tokens_are_signed_with_the_published_key(tmp_path: Path) -> None:
    key = oidc_tokens.load_or_create_key(tmp_path / "key.pem")
    assert oidc_tokens.load_or_create_key(tmp_path / "key.pem").private_numbers() == (
        key.private_numbers()
    )
    workflow = oidc_tokens.Workflow(repository="acme/shop", environment="prod")
    claims = oidc_tokens.github_claims(workflow, "http://issuer", "sts.amazonaws.com", 1000, {})
    token = oidc_tokens.sign(claims, key)
    verified = _verify_rs256(token, {"keys": [oidc_tokens.public_jwk(key.public_key())]})
    assert verified["sub"] == "repo:acme/shop:environment:prod"
    assert (verified["nbf"], verified["exp"]) == (1000, 1300)
    other = oidc_tokens.load_or_create_key(tmp_path / "other.pem")
    kid = json.loads(_b64url_decode(token.split(".")[0]))["kid"]
    impostor = {**oidc_tokens.public_jwk(other.public_key()), "kid": kid}
    with pytest.raises(InvalidSignature):
        _verify_rs256(token, {"keys": [impostor]})


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        ({}, "repo:local/release:ref:refs/heads/main"),
        ({"repository": "o/r", "ref": "refs/tags/v1"}, "repo:o/r:ref:refs/tags/v1"),
        ({"repository": "o/r", "environment": "dev"}, "repo:o/r:environment:dev"),
    ],
)
def test_subject_follows_github(fields: dict[str, str], subject: str) -> None:
    workflow, extra = oidc_tokens.workflow_from_file({**fields, "custom": 1})
    assert workflow.subject == subject
    assert extra == {"custom": 1}


def test_state_round_trips_through_json() -> None:
    state = LocalState(state_dir="/s", repo_root="/r", region="eu-west-1",
                       account_id="123456789012", base_images=("a:1",))
    state = state.with_component("moto", Component(
        address="127.0.0.1:5000", url="http://127.0.0.1:5000", owned=True, pid=7, proc_start=9,
        log="/s/logs/moto.log"))
    assert from_json(json.loads(json.dumps(to_json(state)))) == state
    assert state.environment()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in state.environment()


def _sleeper(tmp_path: Path, script: str) -> Started:
    log = tmp_path / "logs" / "sleeper.log"
    return launch(Launch("sleeper", ["sh", "-c", script], log, dict(os.environ), tmp_path))


def test_launched_processes_get_their_own_session_and_stop_on_sigterm(tmp_path: Path) -> None:
    started = _sleeper(tmp_path, "echo hello; exec sleep 30")
    assert is_running(started.pid, started.proc_start)
    assert os.getsid(started.pid) == started.pid
    assert not is_running(started.pid, (started.proc_start or 0) + 1)  # a reused PID is not ours
    assert stop(started.pid, started.proc_start, 5.0, Timing()) is Stopped.TERMINATED
    assert not is_running(started.pid, started.proc_start)
    assert stop(started.pid, started.proc_start, 5.0, Timing()) is Stopped.NOT_RUNNING
    assert "hello" in (tmp_path / "logs" / "sleeper.log").read_text()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    started = _sleeper(tmp_path, "trap '' TERM; echo ready; exec sleep 30")
    log = tmp_path / "logs" / "sleeper.log"
    # The log's header line repeats the command (which says "ready"): wait for the line itself.
    assert wait_until(lambda: "ready" in log.read_text().splitlines(), 5.0, Timing())
    assert stop(started.pid, started.proc_start, 0.5, Timing()) is Stopped.KILLED
    assert not is_running(started.pid, started.proc_start)
