"""AWS API calls and wall time: `release deploy` vs fabfuel/ecs-deploy, 30 ECS services.

    python bench/deploy_api_calls.py [--services 30] [--rollout-seconds 10] [--no-write]

In one run (about 9 minutes with the defaults), all on 127.0.0.1:

1. starts a Docker engine of its own and a private local cloud (`release.local.cloud`:
   moto, registry, OIDC issuer on --moto-port and the two ports after it);
2. generates a sandbox repository with 3N identical ECS Fargate services (r-.. and p-..
   for release, e-.. for ecs-deploy) and seeds them in moto;
3. starts a counting proxy in front of moto (bench/ecs_proxy.py) that simulates a rollout
   of --rollout-seconds for every UpdateService, the same for both tools;
4. (a) `release deploy --env local r-00 ... r-NN`: one process that builds and pushes the
   N images, then deploys the N services (release's default --parallel 8); (a') the same
   on p-.. with --parallel N; (b) `ecs deploy bench e-XX --image app REPO@DIGEST
   --timeout 600`, one process per service, one after the other, with the digests (a)
   pushed;
5. counts each tool's calls at the proxy (told apart by AWS_SDK_UA_APP_ID), checks every
   service runs its new image, writes the issue-5 section of bench/RESULTS.md (unless
   --no-write), and stops, by PID, everything it started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ecs_proxy import CountingProxy, RolloutSimulator  # noqa: E402

from release.local import cloud, docker_engine, sandbox  # noqa: E402

RELEASE_APP = "bench-release"
WIDE_APP = "bench-release-wide"
ECS_DEPLOY_APP = "bench-ecs-deploy"
CLUSTER = "bench"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
# moto accepts any credentials; these name themselves and never reach AWS.
DUMMY_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
SECTION = "## API calls for 30 ECS services at once vs fabfuel/ecs-deploy (issue 5)"
RESULTS = ROOT / "bench" / "RESULTS.md"

TASK = {
    "family": "${env}-${service}",
    "executionRoleArn": "arn:aws:iam::${account_id}:role/${env}-ecs-execution",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{
        "name": "app",
        "image": "app:placeholder",
        "essential": True,
        "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
        "environment": [{"name": "SERVICE", "value": "${service}"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/${env}-${service}", "awslogs-region": "${region}",
            "awslogs-stream-prefix": "ecs"}},
    }],
}
DOCKERFILE = """ARG BASE_IMAGE=release-base/busybox:1
FROM ${BASE_IMAGE}
COPY index.html /srv/www/
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/srv/www"]
"""


@contextmanager
def private_docker(where: Path) -> Iterator[str]:
    """A dockerd of our own (socket, data and exec roots under ``where``), stopped by PID.

    Another engine on the default socket may come and go while the bench runs.
    """
    if shutil.which("dockerd") is None:
        raise SystemExit("dockerd not found (apt-get install docker.io)")
    where.mkdir(parents=True)
    host = f"unix://{where}/d.sock"
    log = (where / "dockerd.log").open("w")
    proc = subprocess.Popen(["dockerd", "--iptables=false", "--ip6tables=false",
                             "--bridge=none", f"--host={host}",
                             f"--pidfile={where}/d.pid", f"--data-root={where}/data",
                             f"--exec-root={where}/x"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not docker_engine.answers(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dockerd did not start: see {where}/dockerd.log")
            time.sleep(0.5)
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def names(prefix: str, count: int) -> list[str]:
    """``prefix-00`` ... for ``count`` services."""
    return [f"{prefix}-{i:02d}" for i in range(count)]


def make_repo(target: Path, count: int, *, endpoint: str, registry: str) -> Path:
    """A git repository with ``3 * count`` ECS services sharing one build context."""
    (target / "app").mkdir(parents=True)
    (target / "environments").mkdir()
    (target / "app" / "Dockerfile").write_text(DOCKERFILE)
    (target / "app" / "index.html").write_text("<h1>bench</h1>\n")
    (target / "app" / "task.json").write_text(json.dumps(TASK, indent=2))
    services = {name: {"context": "app", "repository": f"bench/{name}",
                       "ecs": {"task_definition": "app/task.json", "container": "app"}}
                for name in names("r", count) + names("e", count) + names("p", count)}
    spec = {"version": 1,
            "defaults": {"build_args": {"BASE_IMAGE": "release-base/busybox:1",
                                        "BENCH_RUN": uuid.uuid4().hex},
                         "platform": "linux/amd64"},
            "services": services}
    (target / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {"name": "local",
           "aws": {"region": REGION, "account_id": ACCOUNT,
                   "role_arn": f"arn:aws:iam::{ACCOUNT}:role/release-local",
                   "endpoint_url": endpoint},
           "registry": {"type": "ecr", "host": registry},
           "ecs": {"cluster": CLUSTER},
           "services": {name: {"ecs": {"desired_count": 1, "deadline_seconds": 900}}
                        for name in services}}
    (target / "environments" / "local.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    sandbox.git(target, "init", "-q", "-b", "main")
    sandbox.git(target, "add", "-A")
    sandbox.git(target, "commit", "-qm", "bench")
    return target


def tool_env(app_id: str, endpoint: str | None = None) -> dict[str, str]:
    """The environment of a tool process: dummy credentials, tagged User-Agent."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_ACTIONS"))}
    env.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": REGION, "AWS_SDK_UA_APP_ID": app_id,
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH"))
                                              if p)})
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


@dataclass
class ReleaseRun:
    """One `release deploy`: wall time, phases from its stderr, its results."""

    seconds: float
    build_seconds: float
    results: list[dict[str, object]]
    lines: list[tuple[float, str]] = field(default_factory=list)


def run_release(root: Path, services: list[str], parallel: int, app_id: str) -> ReleaseRun:
    """`release deploy` of ``services`` as one process, stderr lines timestamped."""
    argv = [sys.executable, "-m", "release", "deploy", "--env", "local", "--root", str(root),
            "--output", "json", "--parallel", str(parallel), *services]
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True,
                                env=tool_env(app_id), cwd=root)
        assert proc.stderr is not None
        stream = proc.stderr

        def read() -> None:
            for line in stream:
                lines.append((time.perf_counter() - began, line.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            raise SystemExit("release deploy did not finish in 1200 s") from None
        seconds = time.perf_counter() - began
        reader.join(timeout=10)
        out.seek(0)
        stdout = out.read().decode()
    if code != 0:
        tail = "\n".join(line for _, line in lines[-40:])
        raise SystemExit(f"release deploy failed ({code}):\n{tail}\n{stdout[-2000:]}")
    building = [t for t, line in lines if ": building " in line]
    pushed = [t for t, line in lines if ": pushed " in line]
    build = (max(pushed) - min(building)) if building and pushed else 0.0
    return ReleaseRun(seconds, build, json.loads(stdout)["data"]["results"], lines)


def run_ecs_deploy(ecs: str, services: list[str], images: list[str], endpoint: str,
                   log: Path) -> float:
    """`ecs deploy` once per service, one after the other; return the total wall time."""
    env = tool_env(ECS_DEPLOY_APP, endpoint)
    began = time.perf_counter()
    with log.open("w") as handle:
        for service, image in zip(services, images, strict=True):
            one = time.perf_counter()
            done = subprocess.run([ecs, "deploy", CLUSTER, service, "--image", "app", image,
                                   "--timeout", "600", "--region", REGION],
                                  env=env, capture_output=True, text=True, timeout=700,
                                  check=False)
            handle.write(f"### {service} ({time.perf_counter() - one:.1f} s, exit "
                         f"{done.returncode})\n{done.stdout}{done.stderr}\n")
            if done.returncode != 0:
                raise SystemExit(f"ecs deploy {service} failed ({done.returncode}):\n"
                                 f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
            print(f"  ecs deploy {service}: {time.perf_counter() - one:.1f} s", flush=True)
    return time.perf_counter() - began


def running_images(moto: str, services: list[str]) -> dict[str, str]:
    """Each service's task definition image, asked of moto directly (not counted)."""
    import boto3

    session = boto3.session.Session(region_name=REGION,
                                    aws_access_key_id=DUMMY_KEYS["aws_access_key_id"],
                                    aws_secret_access_key=DUMMY_KEYS["aws_secret_access_key"])
    ecs = session.client("ecs", endpoint_url=moto)
    out: dict[str, str] = {}
    for i in range(0, len(services), 10):
        found = ecs.describe_services(cluster=CLUSTER, services=services[i:i + 10])
        for svc in found["services"]:
            definition = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
            out[svc["serviceName"]] = definition["taskDefinition"]["containerDefinitions"][0][
                "image"]
    ecs.close()
    return out


def machine() -> str:
    """One line about where this ran."""
    return (f"{os.cpu_count()} cores, {platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}")


def _ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.1f}x" if ours else "-"


def section(args: argparse.Namespace, runs: tuple[ReleaseRun, ReleaseRun | None],
            ecs_seconds: float, calls: dict[str, Counter[str]], ecs_version: str) -> str:
    """The Markdown section for bench/RESULTS.md."""
    release, wide = runs
    ours, theirs, wide_calls = calls[RELEASE_APP], calls[ECS_DEPLOY_APP], calls[WIDE_APP]
    total_r, total_e, total_w = (sum(c.values()) for c in (ours, theirs, wide_calls))
    n, d, p = args.services, args.rollout_seconds, args.parallel
    deploy_only = release.seconds - release.build_seconds
    calls_met = total_e >= 5 * total_r
    time_met = ecs_seconds >= 5 * release.seconds
    verdict = ("target met" if calls_met and time_met else
               "target met for calls only" if calls_met else
               "target met for wall time only" if time_met else "target not met")
    head = f"| | release deploy (--parallel {p}) | ecs-deploy | ratio |"
    line = "|---|---|---|---|"
    rows = [f"| AWS API calls | {total_r} | {total_e} | {_ratio(total_e, total_r)} |",
            f"| wall time | {release.seconds:.1f} s | {ecs_seconds:.1f} s | "
            f"{_ratio(ecs_seconds, release.seconds)} |",
            f"| wall time without release's builds | {deploy_only:.1f} s | {ecs_seconds:.1f} s"
            f" | {_ratio(ecs_seconds, deploy_only)} |"]
    if wide is not None:
        q = args.wide_parallel
        wide_only = wide.seconds - wide.build_seconds
        head = (f"| | release deploy (--parallel {p}) | release deploy (--parallel {q}) | "
                "ecs-deploy | ecs-deploy / release, --parallel {p} / {q} |").replace(
                    "{p}", str(p)).replace("{q}", str(q))
        line = "|---|---|---|---|---|"
        rows = [f"| AWS API calls | {total_r} | {total_w} | {total_e} | "
                f"{_ratio(total_e, total_r)} / {_ratio(total_e, total_w)} |",
                f"| wall time | {release.seconds:.1f} s | {wide.seconds:.1f} s | "
                f"{ecs_seconds:.1f} s | {_ratio(ecs_seconds, release.seconds)} / "
                f"{_ratio(ecs_seconds, wide.seconds)} |",
                f"| wall time without release's builds | {deploy_only:.1f} s | "
                f"{wide_only:.1f} s | {ecs_seconds:.1f} s | {_ratio(ecs_seconds, deploy_only)}"
                f" / {_ratio(ecs_seconds, wide_only)} |"]
    ops = sorted(set(ours) | set(theirs) | set(wide_calls))
    by_op = "\n".join(
        f"| {op} | {ours.get(op, 0)} | "
        + (f"{wide_calls.get(op, 0)} | " if wide is not None else "")
        + f"{theirs.get(op, 0)} |" for op in ops)
    op_head = ("| operation | release (--parallel {p}) | "
               + (f"release (--parallel {args.wide_parallel}) | " if wide is not None else "")
               + "ecs-deploy |").replace("{p}", str(p))
    op_line = "|---|---|---|---|" if wide is not None else "|---|---|---|"
    wide_note = "" if wide is None else f"""
- (a') the same with `--parallel {args.wide_parallel}` on a third identical set (`p-00`...):
  every rollout waited for at once. Build phase {wide.build_seconds:.1f} s."""
    per_e = total_e / n
    polls_e = theirs.get("ecs:DescribeServices", 0) / n
    # Derived, not measured: ecs-deploy adds ~polls_e/d calls per service per second of
    # rollout; release at most one DescribeServices per 10 services per 15 s.
    # Two of ecs-deploy's DescribeServices per service come before its loop.
    grow_e, grow_r = n * max(polls_e - 2, 0) / (d + 1), n / 10 / 15
    extra = max(0.0, (5 * total_r - total_e) / (grow_e - 5 * grow_r)) if grow_e > 5 * grow_r \
        else float("inf")
    fixed_r = (total_r - ours.get("ecs:DescribeServices", 0)) / n + 1  # + the plan's read
    table = "\n".join([head, line, *rows])
    return f"""{SECTION}: {verdict}

Reproduce: `python bench/deploy_api_calls.py --services {n} --rollout-seconds {d:g}`
(`pip install ecs-deploy`; starts a private local cloud on 127.0.0.1:{args.moto_port}-{
args.moto_port + 2}
with `release.local.cloud`, uses the running Docker engine or starts one, and stops what
it started). Measured {dt.date.today().isoformat()} on {machine()};
ecs-deploy {ecs_version}; {n} ECS Fargate services per tool, desiredCount 1, every rollout
{d:g} s. The verdict compares ecs-deploy with release's default (`--parallel {p}`).

{table}

Calls by operation (every call each tool made, counted at the proxy):

{op_head}
{op_line}
{by_op}

How it was run:
- (a) `release deploy --env local r-00 ... r-{n - 1:02d}` (default `--parallel {p}`): one
  process (interpreter start included) that plans, builds and pushes the {n} images (one
  shared context: Docker's layer cache makes the builds quick, the pushes are real), then
  deploys the services {p} at a time, waiting for the rollouts with one DescribeServices
  per 10 services per polling round. Its build phase (first "building" to last "pushed"
  line on its stderr) took {release.build_seconds:.1f} s.{wide_note}
- (b) `ecs deploy bench e-XX --image app 127.0.0.1:{args.moto_port + 1}/bench/r-XX@sha256:...
  --timeout 600`: one process per service, one after the other, as a shell loop would;
  the same images (the digests (a) pushed), identical services and task definitions
  (`e-00`... seeded like `r-00`...). Per service: {per_e:.1f} calls, of which
  {polls_e:.1f} DescribeServices.
- Both reach moto through a counting proxy (`bench/ecs_proxy.py`) that tells the tools
  apart by `AWS_SDK_UA_APP_ID` and simulates the rollouts moto does not have, identically
  for both: for {d:g} s after an UpdateService the service shows the new deployment PRIMARY
  IN_PROGRESS with runningCount 0 next to the previous deployment ACTIVE with its task
  running (a rolling update, minimumHealthyPercent 100), and ListTasks/DescribeTasks show
  only the old revision's task; after that, the PRIMARY deployment alone, COMPLETED, and
  desiredCount RUNNING Fargate tasks of the new task definition (with an ENI attachment,
  as ECS reports them).
- After the run every service runs its new image (checked in moto directly).

What is not equal, and which way it leans:
- release does more than ecs-deploy here: it builds and pushes the images (the row
  without builds removes that time), logs in to ECR, reads each service's latest revision
  and its tags to plan and to refuse downgrades, tags the new revision with the release's
  keys, and looks up the service's address after the rollout (ListTasks, DescribeTasks,
  EC2 DescribeNetworkInterfaces; the ENI does not exist in moto, so that call fails and
  the URL is left out; in AWS it succeeds with the same count).
- ecs-deploy polls once a second: one DescribeServices per service while the old
  deployment is still listed, and ListTasks + DescribeTasks only once a single deployment
  is left. The simulation keeps the old deployment listed until the rollout completes,
  ecs-deploy's cheapest case; a rollout that drops the old deployment before the new
  tasks run (minimumHealthyPercent 0, slow task start) costs it three calls a second.
  Its calls grow by about {grow_e / n:.1f} per service per second of rollout; release's
  polls are batched (10 services a call) and back off (2 s, x1.5, at most 15 s), while
  its fixed cost is {fixed_r:.1f} calls per service (everything but its polls).
  Estimate from these rates, not measured: the call ratio reaches 5x for rollouts of
  about {d + extra:.0f} s (real Fargate rollouts take minutes; measuring that here would
  take 30 sequential rollouts of that length).
- Wall time: ecs-deploy runs the services one after the other, as teams script it; run
  in parallel it would take about one rollout and make the same calls. Each ecs-deploy
  process also pays interpreter start and the boto3 import.
- moto answers in milliseconds; AWS latency and throttling are not simulated.

Findings:
- Calls: release's polling is cheap ({ours.get("ecs:DescribeServices", 0) - n} polls for
  {n} rollouts against ecs-deploy's {theirs.get("ecs:DescribeServices", 0)}
  DescribeServices), but its fixed reads and writes per service (two
  DescribeTaskDefinition, ListTaskDefinitions, TagResource and the address lookup:
  ListTasks, DescribeTasks, DescribeNetworkInterfaces) outnumber ecs-deploy's fixed calls,
  so with short rollouts the ratio stays far below 5x.
- Wall time with the default pool: release deploys {p} services at a time, so {n}
  rollouts go in waves, and the shared watcher's backoff restarts only when no rollout is
  pending: later waves are polled every 15 s, so each wave of a {d:g} s rollout takes
  longer than the rollout ({deploy_only:.0f} s without builds, against
  {(wide.seconds - wide.build_seconds) if wide else float("nan"):.0f} s with
  `--parallel {args.wide_parallel}`).
"""


def write_section(text: str) -> None:
    """Replace the issue-5 section of bench/RESULTS.md with ``text``."""
    content = RESULTS.read_text()
    start = content.index(SECTION)
    end = content.find("\n## ", start + len(SECTION))
    end = len(content) if end == -1 else end + 1
    RESULTS.write_text(content[:start] + text.rstrip("\n") + "\n\n" + content[end:])


def parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--rollout-seconds", type=float, default=10.0,
                        help="simulated rollout per UpdateService (default 10: 30 sequential "
                             "ecs-deploy runs then take about 6 minutes)")
    parser.add_argument("--parallel", type=int, default=8,
                        help="release deploy --parallel (default 8, release's own default)")
    parser.add_argument("--wide-parallel", type=int, default=None,
                        help="also run release deploy with this --parallel on a third set "
                             "of services (default: --services; 0: skip)")
    parser.add_argument("--moto-port", type=int, default=19000,
                        help="moto; the registry and OIDC issuer take the next two ports")
    parser.add_argument("--private-docker", action=argparse.BooleanOptionalAction,
                        default=True, help="start a Docker engine of our own (default) "
                        "rather than use whatever answers on DOCKER_HOST")
    parser.add_argument("--no-write", action="store_true",
                        help="print the section, do not write bench/RESULTS.md")
    args = parser.parse_args()
    if args.wide_parallel is None:
        args.wide_parallel = args.services
    return args


def main() -> None:
    """Set up, run both tools, count, report."""
    args = parse()
    ecs = shutil.which("ecs")
    if ecs is None:
        raise SystemExit("ecs-deploy is not installed: pip install ecs-deploy")
    from importlib.metadata import version

    ecs_version = version("ecs-deploy")
    with tempfile.TemporaryDirectory(prefix="release-bench-calls-", dir="/tmp",
                                     ignore_cleanup_errors=True) as tmp:
        state_dir = Path(tmp) / "cloud"
        options = cloud.Options(repo_root=ROOT, state_dir=state_dir, moto_port=args.moto_port,
                                registry_port=args.moto_port + 1,
                                oidc_port=args.moto_port + 2, region=REGION)
        engine = (private_docker(Path(tmp) / "e")
                  if args.private_docker else nullcontext(None))
        with engine as docker_host:
            if docker_host:
                os.environ["DOCKER_HOST"] = docker_host
            return run(args, options, ecs, ecs_version)


def run(args: argparse.Namespace, options: cloud.Options, ecs: str,
        ecs_version: str) -> None:
    """Everything between starting the private Docker engine and stopping it."""
    began = time.perf_counter()
    tmp = str(options.state_dir.parent)
    state_dir = options.state_dir
    try:
        print("starting the local cloud ...", flush=True)
        cloud.up(options, cloud.Deps())
        moto = f"http://127.0.0.1:{args.moto_port}"
        registry = f"127.0.0.1:{args.moto_port + 1}"
        simulator = RolloutSimulator(args.rollout_seconds, REGION, ACCOUNT)
        with CountingProxy(args.moto_port, simulator, lifetime=3600) as proxy:
            root = make_repo(Path(tmp) / "repo", args.services, endpoint=proxy.url,
                             registry=registry)
            print(f"seeding {3 * args.services} ECS services ...", flush=True)
            sandbox.reset_and_seed(root, proxy.url)
            ours, theirs = names("r", args.services), names("e", args.services)
            print(f"(a) release deploy of {args.services} services ...", flush=True)
            release = run_release(root, ours, args.parallel, RELEASE_APP)
            digests = {str(r["service"]): str(r["digest"]) for r in release.results}
            images = [f"{registry}/bench/{name}@{digests[name]}" for name in ours]
            print(f"    {release.seconds:.1f} s (builds {release.build_seconds:.1f} s)",
                  flush=True)
            wide = None
            if args.wide_parallel:
                print(f"(a') release deploy --parallel {args.wide_parallel} of another "
                      f"{args.services} services ...", flush=True)
                wide = run_release(root, names("p", args.services), args.wide_parallel,
                                   WIDE_APP)
                print(f"    {wide.seconds:.1f} s (builds {wide.build_seconds:.1f} s)",
                      flush=True)
            print(f"(b) ecs deploy, {args.services} processes one after the other ...",
                  flush=True)
            ecs_seconds = run_ecs_deploy(ecs, theirs, images, proxy.url,
                                         Path(tmp) / "ecs-deploy.log")
            calls = {app: proxy.counts.of(app)
                     for app in (RELEASE_APP, WIDE_APP, ECS_DEPLOY_APP)}
        expected = dict(zip(ours, images, strict=True)) | dict(
            zip(theirs, images, strict=True))
        if wide is not None:
            expected |= {str(r["service"]): f"{registry}/bench/{r['service']}@{r['digest']}"
                         for r in wide.results}
        running = running_images(moto, list(expected))
        wrong = [n for n, image in expected.items() if running.get(n) != image]
        if wrong:
            raise SystemExit(f"services not on the new image: {wrong}")
    finally:
        cloud.down(state_dir, cloud.Deps())
    text = section(args, (release, wide), ecs_seconds, calls, ecs_version)
    print("\n" + text)
    if not args.no_write:
        write_section(text)
        print(f"written to {RESULTS.relative_to(ROOT)} (whole run "
              f"{time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
