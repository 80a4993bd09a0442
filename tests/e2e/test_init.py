"""`release init` end to end: a service and a function made with plain API calls (as a
console or Terraform would), adopted into an empty repository, validated, compared (only
the image differs), released, and released again as a no-op."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from private_cloud import local_environ, private_cloud

from release.cli import main
from release.local import sandbox
from release.local.state import LocalState

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
PASSWORD = "Zq8#kd93-LmWq!x7"  # a plaintext credential someone left in the task definition


@pytest.fixture(scope="module")
def cloud_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """A local cloud for this module (15400-15402); stopped by PID at the end."""
    with private_cloud(tmp_path_factory, 15400) as state:
        yield state


def client(state: LocalState, name: str) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def running_by_hand(state: LocalState) -> None:
    """prod-orders-api on ECS and prod-orders-worker on Lambda, as a team made them."""
    iam = client(state, "iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="prod-orders-worker", AssumeRolePolicyDocument=trust)
    client(state, "ssm").put_parameter(Name="/prod/orders/api-key", Value="k-123",
                                       Type="SecureString")  # what its task reads at start
    ecs = client(state, "ecs")
    ecs.create_cluster(clusterName="shop")
    arn = ecs.register_task_definition(
        family="prod-orders-api", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/prod-orders-exec",
        containerDefinitions=[{
            "name": "web", "image": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/orders:41",
            "essential": True, "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "LOG_LEVEL", "value": "info"},
                            {"name": "DB_PASSWORD", "value": PASSWORD}],
            "secrets": [{"name": "API_KEY", "valueFrom":
                         f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/prod/orders/api-key"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/prod-orders-api", "awslogs-region": "eu-west-1",
                "awslogs-stream-prefix": "ecs"}}}],
    )["taskDefinition"]["taskDefinitionArn"]
    ec2 = client(state, "ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [subnet["VpcId"]]}])["SecurityGroups"][0]["GroupId"]
    ecs.create_service(cluster="shop", serviceName="prod-orders-api", taskDefinition=arn,
                       desiredCount=1, launchType="FARGATE", networkConfiguration={
                           "awsvpcConfiguration": {"subnets": [subnet["SubnetId"]],
                                                   "securityGroups": [group]}})
    lam = client(state, "lambda")
    lam.create_function(FunctionName="prod-orders-worker", PackageType="Image",
                        Role=role["Role"]["Arn"], Publish=True,
                        Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/w:7"},
                        Environment={"Variables": {"QUEUE": "orders"}})
    lam.create_alias(FunctionName="prod-orders-worker", Name="live", FunctionVersion="1")


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A repository holding only the two services' code."""
    root = tmp_path / "shop"
    for name in ("orders-api", "orders-worker"):
        (root / name).mkdir(parents=True)
        (root / name / "Dockerfile").write_text(
            "FROM release-base/busybox:1\nCOPY run.sh /run.sh\nCMD [\"/bin/sh\", \"/run.sh\"]\n")
        (root / name / "run.sh").write_text(  # a server: its task stays up
            f"echo {name} starting\nmkdir -p /www && echo {name} > /www/index.html\n"
            "exec httpd -f -p 8080 -h /www\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    return root


def release(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main([*args, "--root", str(root), "--output", "json"], environ=local_environ())
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, json.loads(out)["data"] if out.strip() else err


def test_init_adopts_what_runs_and_the_first_deploy_changes_only_the_image(
        cloud_state: LocalState, empty_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    running_by_hand(cloud_state)
    code, data = release(empty_repo, capsys, "init", "--env", "prod",
                         "--ecs", "shop/prod-orders-api", "--lambda", "prod-orders-worker",
                         "--region", "eu-west-1",
                         "--endpoint-url", cloud_state.aws_endpoint_url,
                         "--registry-host", cloud_state.registry_host,
                         "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/release-local")
    assert code == 0, data
    assert set(data["written"]) >= {
        "release.yaml", "environments/prod.yaml", "environments/local.yaml",
        "deploy/orders-api.task.json", ".github/workflows/release.yml",
        "schemas/release.schema.json", "schemas/environment.schema.json"}
    [note] = data["notes"]
    assert "DB_PASSWORD" in note
    written = "".join((empty_repo / p).read_text() for p in data["written"])
    assert PASSWORD not in written  # reported, never copied
    template = json.loads((empty_repo / "deploy/orders-api.task.json").read_text())
    logs = template["containerDefinitions"][0]["logConfiguration"]["options"]
    assert logs["awslogs-group"] == "/ecs/${env}-orders-api"
    env = yaml.safe_load((empty_repo / "environments/prod.yaml").read_text())
    assert env["services"]["orders-api"]["ecs"]["family"] == "prod-orders-api"
    assert env["services"]["orders-api"]["ecs"]["secrets"] == {
        "API_KEY": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/prod/orders/api-key"}
    assert env["services"]["orders-worker"]["lambda"] == {
        "function": "prod-orders-worker", "alias": "live", "environment": {"QUEUE": "orders"}}
    # A second init refuses: nothing is overwritten
    again, said = release(empty_repo, capsys, "init", "--env", "prod", "--ecs",
                          "shop/prod-orders-api", "--region", "eu-west-1",
                          "--endpoint-url", cloud_state.aws_endpoint_url)
    assert again == 2
    assert "exist" in said
    env["services"]["orders-api"]["ecs"]["deadline_seconds"] = 120  # a test's patience
    (empty_repo / "environments/prod.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    sandbox.git(empty_repo, "add", "-A")
    sandbox.git(empty_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")

    assert release(empty_repo, capsys, "validate")[0] == 0
    code, diff = release(empty_repo, capsys, "diff", "--env", "prod")
    assert code == 0
    changed = {(t["service"], t["target"]): {d["path"] for d in t["differences"]}
               for t in diff["targets"]}
    assert changed[("orders-api", "ecs")] == {
        "containerDefinitions[web].image", "containerDefinitions[web].environment.DB_PASSWORD",
        "tags.release:build-key"}
    assert changed[("orders-worker", "lambda")] == {"image"}

    code, first = release(empty_repo, capsys, "deploy", "--env", "prod")
    assert code == 0, first
    assert {r["status"] for r in first["results"]} == {"deployed"}
    code, second = release(empty_repo, capsys, "deploy", "--env", "prod")
    assert code == 0
    assert {r["status"] for r in second["results"]} == {"unchanged"}
