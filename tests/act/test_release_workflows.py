""".github/workflows/release.yml and deploy.yml and the actions, run as users run them:
under act on this host, against a private local cloud, asserting on what moto holds
afterwards (task definitions, the task definition and deployment of each ECS service, the
version and image behind each Lambda alias), not only on exit codes.

A push releases the one changed service; a manual run redeploys a chosen service (and
refuses a service name with shell in it); a broken config fails with an annotation on its
line; another repository reuses deploy.yml and the actions by `OWNER/REPO/...@<sha>`, and
is refused a tool ref that is not a commit SHA.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from act_runner import (
    CHECKOUT,
    REPO,
    TOOL_REPOSITORY,
    Act,
    commit_all,
    copy_tool,
    tool_repository,
)
from private_cloud import examples_repo

from release.local import sandbox
from release.local.state import LocalState
from release.planning.recorded import BUILD_KEY_TAG, SOURCE_COMMIT_TAG

pytestmark = pytest.mark.e2e

RELEASE = ".github/workflows/release.yml"
ECS_SERVICES = ("autovision", "coral-frontend", "predictions-api")
FUNCTIONS = ("coral-reframing", "coral-restoration", "coral-segmentation", "quetzal")


@dataclass(frozen=True)
class Running:
    """What one ECS service runs: its task definition and its newest deployment."""

    task_definition: str
    deployment: str


@dataclass(frozen=True)
class Alias:
    """What one Lambda alias points at, and the tags recorded on the function."""

    version: str
    image: str
    tags: dict[str, str]


@dataclass(frozen=True)
class CloudState:
    """The parts of the local cloud a release changes."""

    task_definitions: frozenset[str]
    services: dict[str, Running]
    functions: dict[str, Alias]


def client(state: LocalState, name: Any) -> Any:
    return boto3.client(name, endpoint_url=state.aws_endpoint_url, region_name=state.region,
                        aws_access_key_id="t", aws_secret_access_key="t")


def read_cloud(state: LocalState) -> CloudState:
    """Every task definition ARN, each ECS service and each Lambda alias, from moto."""
    ecs, lambda_ = client(state, "ecs"), client(state, "lambda")
    try:
        arns = frozenset(ecs.list_task_definitions()["taskDefinitionArns"])
        described = ecs.describe_services(cluster="local", services=list(ECS_SERVICES))
        services = {s["serviceName"]: Running(s["taskDefinition"], s["deployments"][0]["id"])
                    for s in described["services"]}
        functions = {}
        for name in FUNCTIONS:
            got = lambda_.get_function(FunctionName=f"local-{name}", Qualifier="live")
            tags = lambda_.list_tags(Resource=got["Configuration"]["FunctionArn"].rsplit(
                ":", 1)[0])["Tags"]
            functions[name] = Alias(got["Configuration"]["Version"], got["Code"]["ImageUri"],
                                    tags)
    finally:
        ecs.close()
        lambda_.close()
    return CloudState(arns, services, functions)


def release_cli(act: Act, root: Path, *args: str) -> str:
    """``release ARGS --root ROOT`` in a process of its own (no CI variables); its stdout."""
    done = subprocess.run([sys.executable, "-m", "release", *args, "--root", str(root)],
                          env=act.environ(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def build_jobs(run_log: set[str]) -> set[str]:
    return {job.rsplit("build ", 1)[1] for job in run_log if "/build " in job}


def offer_local_to_manual_runs(root: Path) -> None:
    """Add `local` to the environments a manual run of ``root``'s release.yml offers. The
    real file must not offer it (its endpoints are loopback: on a self-hosted runner a real
    OIDC token would be sent to whatever listens there); this test copy runs against the
    local cloud, so its manual runs pick `local` as a person would pick from the list."""
    workflow = root / RELEASE
    text = workflow.read_text()
    options = yaml.safe_load(text)[True]["workflow_dispatch"]["inputs"]["environment"][
        "options"]
    assert "local" not in options, f"{RELEASE} offers local to manual runs: {options}"
    line = f"options: [{', '.join(options)}]"
    assert text.count(line) == 1, f"{RELEASE}: no single `{line}` line to extend"
    workflow.write_text(text.replace(line, f"options: [{', '.join([*options, 'local'])}]"))


@pytest.fixture(scope="module")
def own_repo(cloud: LocalState, act: Act, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples beside the release tool in one repository, as in this project (its
    origin: acme/release): infrastructure seeded, every service released once; its
    release.yml offers `local` to manual runs (the real one does not)."""
    root: Path = examples_repo(tmp_path_factory.mktemp("own"), cloud)
    copy_tool(root)
    offer_local_to_manual_runs(root)
    commit_all(root, "the release tool beside the services")
    sandbox.git(root, "remote", "add", "origin", f"https://github.com/{TOOL_REPOSITORY}.git")
    release_cli(act, root, "deploy", "--env", "local")
    return root


def test_a_push_to_main_releases_the_changed_service_and_leaves_the_others_alone(
        own_repo: Path, act: Act, cloud: LocalState) -> None:
    before = read_cloud(cloud)
    handler = own_repo / "services/coral/workers/restoration/handler.sh"
    handler.write_text(handler.read_text() + "\n# a fix in the restoration worker\n")
    commit = commit_all(own_repo, "restoration: a fix")

    run = act.run(own_repo, "push", workflow=RELEASE, variables={"RELEASE_ENVIRONMENT": "local"})

    assert run.returncode == 0, run.log[-6000:]
    after = read_cloud(cloud)
    assert build_jobs(run.jobs()) == {"coral-restoration"}  # one build job, for the change
    changed, was = after.functions["coral-restoration"], before.functions["coral-restoration"]
    assert int(changed.version) == int(was.version) + 1
    assert changed.image != was.image
    assert "@sha256:" in changed.image  # pinned by digest
    assert changed.tags[SOURCE_COMMIT_TAG] == commit
    for name in FUNCTIONS:
        if name != "coral-restoration":
            assert after.functions[name] == before.functions[name], name
    assert after.services == before.services  # no ECS service touched
    assert after.task_definitions == before.task_definitions  # no revision registered
    # Built once in its build job; the deploy job found that image by its build key.
    assert any("coral-restoration" in line and " built " in line
               for line in run.lines("build coral-restoration"))
    assert any("coral-restoration" in line and " reused " in line and "deployed" in line
               for line in run.lines("deploy to local"))
    # setup, validate and plan each need the tool: installed once, then found installed.
    plan_job = "\n".join(run.lines("plan local"))
    assert plan_job.count("release installed from") == 1
    assert plan_job.count("release is already installed from") == 2


def test_a2_a_config_only_push_promotes_the_pushed_image_without_a_build_job(
        own_repo: Path, act: Act, cloud: LocalState) -> None:
    before = read_cloud(cloud)
    local = own_repo / "environments" / "local.yaml"
    data = yaml.safe_load(local.read_text())
    data["services"]["autovision"]["ecs"]["environment"]["DETECTION_THRESHOLD"] = "0.8"
    local.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(own_repo, "autovision: raise the threshold")

    run = act.run(own_repo, "push", workflow=RELEASE, variables={"RELEASE_ENVIRONMENT": "local"})

    assert run.returncode == 0, run.log[-6000:]
    # The plan found autovision's image in the registry: no build job ran at all.
    assert build_jobs(run.jobs()) == set()
    assert any("already in the registry" in line for line in run.lines("plan local"))
    assert any("autovision" in line and " reused " in line and "deployed" in line
               for line in run.lines("deploy to local"))
    after = read_cloud(cloud)
    assert after.services["autovision"].task_definition != \
        before.services["autovision"].task_definition  # the new variable, the same image
    for name in ECS_SERVICES:
        if name != "autovision":
            assert after.services[name] == before.services[name], name
    assert after.functions == before.functions


def test_b_a_manual_run_redeploys_the_chosen_service(
        own_repo: Path, act: Act, cloud: LocalState) -> None:
    before = read_cloud(cloud)
    # Values are strings, as in GitHub's workflow_dispatch event payload.
    inputs = {"environment": "local", "services": "autovision", "redeploy": "true",
              "dry-run": "false"}

    run = act.run(own_repo, "workflow_dispatch", workflow=RELEASE, payload={"inputs": inputs})

    assert run.returncode == 0, run.log[-6000:]
    after = read_cloud(cloud)
    assert build_jobs(run.jobs()) == set()  # a redeploy builds nothing
    assert after.services["autovision"].task_definition == \
        before.services["autovision"].task_definition
    assert after.services["autovision"].deployment != before.services["autovision"].deployment
    assert after.task_definitions == before.task_definitions
    for name in ECS_SERVICES:
        if name != "autovision":
            assert after.services[name] == before.services[name], name
    assert after.functions == before.functions


def test_b2_a_manual_run_with_a_hostile_service_name_stops_before_anything_runs(
        own_repo: Path, act: Act, cloud: LocalState, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    inputs = {"environment": "local", "services": f"autovision; touch {marker}",
              "redeploy": "false", "dry-run": "false"}
    before = read_cloud(cloud)

    run = act.run(own_repo, "workflow_dispatch", workflow=RELEASE, payload={"inputs": inputs})

    assert run.returncode != 0
    assert "is not a service name" in "\n".join(run.lines("plan local")), run.log[-6000:]
    assert not marker.exists()  # the input reached the CLI as data, never as shell
    assert not any("deploy to local" in job or "/build " in job for job in run.jobs())
    assert read_cloud(cloud) == before


def test_c_a_broken_config_fails_the_run_with_an_annotation_on_its_line(
        own_repo: Path, act: Act, cloud: LocalState, tmp_path: Path) -> None:
    # A copy of its own (the cloud is not reset: it must stay exactly as it is).
    root = sandbox.make(REPO, tmp_path / "broken", aws_endpoint=cloud.aws_endpoint_url,
                        registry_host=cloud.registry_host)
    copy_tool(root)
    local = root / "environments/local.yaml"
    lines = local.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if "deadline_seconds:" in line)
    lines[number - 1] = lines[number - 1].split(":")[0] + ": soon\n"
    local.write_text("".join(lines))
    commit_all(root, "a deadline that is not a number")
    sandbox.git(root, "remote", "add", "origin", f"https://github.com/{TOOL_REPOSITORY}.git")
    before = read_cloud(cloud)

    run = act.run(root, "push", workflow=RELEASE, variables={"RELEASE_ENVIRONMENT": "local"})

    assert run.returncode != 0
    annotation = f"::error file=environments/local.yaml,line={number},"
    assert any("❗" in line and annotation in line for line in run.lines("plan local")), \
        run.log[-6000:]
    assert not any("deploy to local" in job or "/build " in job for job in run.jobs())
    assert read_cloud(cloud) == before


CONSUMER_WORKFLOW = """\
name: release
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
{check}\
  release:
{needs}\
    uses: {tool}/.github/workflows/deploy.yml@{sha}
    permissions:
      contents: read
      id-token: write
    with:
      environment: local
      services: predictions-api
      release-repository: {tool}
      release-ref: {ref}
"""
CHECK_JOB = """\
  check:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: {checkout}
        with:
          persist-credentials: false
      - uses: {tool}/actions/validate@{sha}
        with:
          environment: local
      - id: plan
        uses: {tool}/actions/plan@{sha}
        with:
          environment: local
          services: predictions-api
      - env:
          SERVICES: ${{{{ steps.plan.outputs.services }}}}
          COUNT: ${{{{ steps.plan.outputs.count }}}}
        run: echo "planned by the plan action - $COUNT - $SERVICES"
"""


@pytest.fixture(scope="module")
def tool(act: Act) -> tuple[Path, str]:
    """acme/release: a repository holding only the tool; its folder and commit."""
    return tool_repository(act.repositories)


def consumer_repo(root: Path, cloud: LocalState, tool: tuple[Path, str], *, ref: str,
                  check: bool) -> str:
    """A repository of services only (origin other/services) whose workflow calls acme/release
    by SHA (with ``check``, also a job using its actions directly); its commit."""
    sandbox.make(REPO, root, aws_endpoint=cloud.aws_endpoint_url,
                 registry_host=cloud.registry_host)
    assert not (root / "actions").exists()  # only services: the tool comes by `uses:`
    # Without a root .dockerignore the build key of predictions-api (context: the root) is
    # the whole tree's: an untracked .release-tool in the workspace would change it.
    (root / ".dockerignore").unlink()
    names = {"checkout": CHECKOUT, "tool": TOOL_REPOSITORY, "sha": tool[1], "ref": ref}
    text = CONSUMER_WORKFLOW.format(check=CHECK_JOB.format(**names) if check else "",
                                    needs="    needs: check\n" if check else "", **names)
    workflow = root / RELEASE
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text)
    commit = commit_all(root, "release with acme/release")
    sandbox.git(root, "remote", "add", "origin", "https://github.com/other/services.git")
    return commit


def task_definition_tags(state: LocalState, arn: str) -> dict[str, str]:
    ecs = client(state, "ecs")
    try:
        got = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    finally:
        ecs.close()
    return {t["key"]: t["value"] for t in got.get("tags", [])}


def test_d_another_repository_reuses_the_workflow_and_the_actions_by_sha(
        own_repo: Path, act: Act, cloud: LocalState, tool: tuple[Path, str],
        tmp_path: Path) -> None:
    folder, sha = tool
    consumer = tmp_path / "consumer"
    commit = consumer_repo(consumer, cloud, tool, ref=sha, check=True)
    # Planned on a clean checkout: the jobs, with the tool checked out into .release-tool
    # inside the workspace, must find the same build key.
    planned = json.loads(release_cli(act, consumer, "plan", "--env", "local", "--services",
                                     "predictions-api", "--output", "json"))
    [entry] = planned["data"]["services"]
    before = read_cloud(cloud)

    run = act.run(consumer, "push", workflow=RELEASE,
                  local_repositories=[(f"{TOOL_REPOSITORY}@{sha}", folder)])

    assert run.returncode == 0, run.log[-6000:]
    assert "planned by the plan action - 1 - predictions-api" in run.log
    assert f"stand-in checkout: {TOOL_REPOSITORY}@{sha} into .release-tool" in run.log
    assert build_jobs(run.jobs()) == {"predictions-api"}
    after = read_cloud(cloud)
    running = after.services["predictions-api"].task_definition
    assert running not in before.task_definitions  # a new revision, and the service runs it
    assert after.task_definitions == before.task_definitions | {running}
    tags = task_definition_tags(cloud, running)
    assert tags[BUILD_KEY_TAG] == entry["build_key"]
    assert tags[SOURCE_COMMIT_TAG] == commit  # the consumer's commit, released
    for name in ECS_SERVICES:
        if name != "predictions-api":
            assert after.services[name] == before.services[name], name
    assert after.functions == before.functions


def test_e_reuse_without_a_commit_sha_for_the_tool_is_refused(
        own_repo: Path, act: Act, cloud: LocalState, tool: tuple[Path, str],
        tmp_path: Path) -> None:
    folder, sha = tool
    consumer = tmp_path / "consumer"
    consumer_repo(consumer, cloud, tool, ref="main", check=False)  # a branch, not a commit
    before = read_cloud(cloud)

    run = act.run(consumer, "push", workflow=RELEASE,
                  local_repositories=[(f"{TOOL_REPOSITORY}@{sha}", folder)])

    assert run.returncode != 0
    assert "::error title=release::release-ref must be the 40-hex commit" in run.log, \
        run.log[-6000:]
    assert not any("deploy to local" in job or "/build " in job for job in run.jobs())
    assert read_cloud(cloud) == before
