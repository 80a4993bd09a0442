"""Deploying N ECS services (+ Lambda functions), and a no-op release, vs the tools teams use.

    python bench/deploy_api_calls.py --suite            # issue 8 items 1 and 2 (~7 min)
    python bench/deploy_api_calls.py --issue5           # issue 5: 30 services, 10 s rollouts

In one run, all on 127.0.0.1 (ports --base-port .. +3, default 21000-21003):

1. starts a Docker engine of its own and a private local cloud (`release.local.cloud`: moto,
   registry, OIDC issuer) and a counting proxy in front of moto (bench/ecs_proxy.py) that
   simulates a rollout of --rollout-seconds for every UpdateService, the same for all tools;
2. generates two repositories of identical ECS Fargate services and container-image Lambda
   functions, one for release, one for the alternatives, and seeds them in moto;
3. per size N: `release deploy --env local` of N services (plus the Lambda functions for
   the largest N) as one process; fabfuel/ecs-deploy one process per service in a loop;
   the AWS CLI sequence from READMEs as a matrix, one chain per service at once;
4. item 2: `release deploy` of the largest set again (nothing changed), and ecs-deploy
   again on one of its services (the alternatives read nothing that tells them nothing
   changed: item 1's runs of theirs stand for their no-op);
4b. calls at a longer rollout (--long-rollout-seconds, 15): a new build of the largest set
   (built first) released again while ecs-deploy runs once per twin service, all at once;
5. counts every tool's calls at the proxy (each process tagged by AWS_SDK_UA_APP_ID),
   checks every service runs its new image, writes its sections of bench/RESULTS.md and
   its figures (bench/results.py), and stops, by PID, everything it started.

Every tool process gets Python bytecode compiled once into a private cache (as any pip
install has; this machine sets PYTHONDONTWRITEBYTECODE, which would make each process
compile botocore again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import alternatives  # noqa: E402
import deploy_report  # noqa: E402
from ecs_proxy import CountingProxy, RolloutSimulator  # noqa: E402
from engine import private_docker  # noqa: E402

from release.local import cloud, sandbox  # noqa: E402

CLUSTER = "bench"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
CONTAINER = "app"
# moto accepts any credentials; these name themselves and never reach AWS.
DUMMY_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
WARM_UP = "w-00"  # deployed once before anything is measured
PYCACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "release-bench" / \
    f"pycache-{sys.version_info.major}.{sys.version_info.minor}"

TASK = {
    "family": "${env}-${service}",
    "executionRoleArn": "arn:aws:iam::${account_id}:role/${env}-ecs-execution",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{
        "name": CONTAINER,
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


def names(prefix: str, count: int) -> list[str]:
    """``prefix-00`` ... for ``count`` services."""
    return [f"{prefix}-{i:02d}" for i in range(count)]


@dataclass(frozen=True)
class Sets:
    """Who deploys which services: identical services, one set per tool and size."""

    sizes: tuple[int, ...]
    lambdas: int

    @property
    def largest(self) -> int:
        """The size that also deploys the Lambda functions."""
        return max(self.sizes)

    def release(self, n: int) -> list[str]:
        """release's ECS services for size ``n``."""
        return names(f"r{n}", n)

    def cli(self, n: int) -> list[str]:
        """The AWS CLI's ECS services for size ``n``."""
        return names(f"c{n}", n)

    def ecs_deploy(self) -> list[str]:
        """ecs-deploy's: one loop over the largest set (a loop over fewer is its start)."""
        return names("e", self.largest)

    def functions(self, tool: str) -> list[str]:
        """Lambda functions of one tool: l (release), el (with ecs-deploy), cl (AWS CLI)."""
        return names(tool, self.lambdas)


def make_repo(target: Path, ecs_names: list[str], functions: list[str], *, endpoint: str,
              registry: str) -> Path:
    """A git repository of ECS services and Lambda functions sharing one build context."""
    (target / "app").mkdir(parents=True)
    (target / "environments").mkdir()
    (target / "app" / "Dockerfile").write_text(DOCKERFILE)
    (target / "app" / "index.html").write_text("<h1>bench</h1>\n")
    (target / "app" / "task.json").write_text(json.dumps(TASK, indent=2))
    services: dict[str, Any] = {
        name: {"context": "app", "repository": f"bench/{name}",
               "ecs": {"task_definition": "app/task.json", "container": CONTAINER}}
        for name in ecs_names}
    services |= {name: {"context": "app", "repository": f"bench/{name}", "lambda": {}}
                 for name in functions}
    spec = {"version": 1,
            "defaults": {"build_args": {"BASE_IMAGE": "release-base/busybox:1",
                                        "BENCH_RUN": uuid.uuid4().hex},
                         "platform": "linux/amd64"},
            "services": services}
    (target / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    deployments: dict[str, Any] = {
        name: {"ecs": {"desired_count": 1, "deadline_seconds": 900}} for name in ecs_names}
    deployments |= {name: {} for name in functions}
    env = {"name": "local",
           "aws": {"region": REGION, "account_id": ACCOUNT,
                   "role_arn": f"arn:aws:iam::{ACCOUNT}:role/release-local",
                   "endpoint_url": endpoint},
           "registry": {"type": "ecr", "host": registry},
           "ecs": {"cluster": CLUSTER},
           "services": deployments}
    (target / "environments" / "local.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    sandbox.git(target, "init", "-q", "-b", "main")
    sandbox.git(target, "add", "-A")
    sandbox.git(target, "commit", "-qm", "bench")
    return target


def seed_all(moto: str, roots: list[Path]) -> None:
    """Empty moto, then create every repository's services and functions, side by side."""
    import urllib.request

    reset = urllib.request.Request(f"{moto}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(reset, timeout=30):  # noqa: S310 - the local moto server
        pass
    errors: list[BaseException] = []

    def one(root: Path) -> None:
        try:
            seed_more(root)
        except BaseException as exc:  # noqa: BLE001 - raised below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(root,)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    if errors:
        raise errors[0]


def seed_more(root: Path) -> None:
    """Create a repository's services in moto (without resetting it)."""
    sandbox.seed_environments(root, ("local",))


# What the tools import: imported once with bytecode writing on, they land in the cache.
WARM_IMPORTS = ("awscli.clidriver", "awscli.customizations.waiters", "ecs_deploy.cli",
                "boto3", "botocore.waiter", "release.cli", "release.commands.deploy",
                "release.adapters.aws.clients", "release.adapters.docker_engine", "docker",
                "yaml", "jsonschema")


def bytecode_cache() -> Path:
    """Fill the private bytecode cache (PYTHONPYCACHEPREFIX) with what the tools import; a
    module imported later for the first time is added by the process that imports it."""
    PYCACHE.mkdir(parents=True, exist_ok=True)
    script = "import importlib\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in WARM_IMPORTS)
    subprocess.run([sys.executable, "-c", script], env=tool_env(), cwd=ROOT, check=True,
                   timeout=300)
    return PYCACHE


def tool_env(endpoint: str | None = None) -> dict[str, str]:
    """The environment of a tool process: dummy credentials, the bytecode cache."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_ACTIONS"))
           and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": REGION, "PYTHONPYCACHEPREFIX": str(PYCACHE),
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH"))
                                              if p)})
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


@dataclass
class ReleaseRun:
    """One `release deploy` process: wall time, its build phase, its results."""

    app: str
    seconds: float
    build_seconds: float
    results: list[dict[str, Any]]
    lines: list[tuple[float, str]] = field(default_factory=list)


def run_release(root: Path, services: list[str], app: str, verb: str = "deploy") -> ReleaseRun:
    """`release deploy` (or ``verb``) of ``services`` as one process, default options,
    stderr timed."""
    argv = [sys.executable, "-m", "release", verb, "--env", "local", "--root", str(root),
            "--output", "json", *services]
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True,
                                env={**tool_env(), "AWS_SDK_UA_APP_ID": app}, cwd=root)
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
    data = json.loads(stdout)["data"]
    # deploy: one result per target; build: one per image
    return ReleaseRun(app, seconds, build, data.get("results", data.get("images", [])), lines)


def moto_client(moto: str, name: str) -> Any:
    """A client straight to moto (not through the proxy: not counted)."""
    import boto3

    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id=DUMMY_KEYS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_KEYS["aws_secret_access_key"])
    return session.client(name, endpoint_url=moto)  # type: ignore[call-overload]


def task_files(moto: str, services: dict[str, str], where: Path) -> dict[str, Path]:
    """service -> the README's task.json (the running definition, the new image)."""
    ecs = moto_client(moto, "ecs")
    out = {}
    for i in range(0, len(services), 10):
        batch = list(services)[i:i + 10]
        for svc in ecs.describe_services(cluster=CLUSTER, services=batch)["services"]:
            body = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
            name = svc["serviceName"]
            out[name] = alternatives.task_file(body["taskDefinition"], services[name],
                                               where / f"task-{name}.json")
    ecs.close()
    return out


def running_images(moto: str, services: list[str], functions: list[str]) -> dict[str, str]:
    """What each service's task definition and each function's alias run (not counted)."""
    ecs, lam = moto_client(moto, "ecs"), moto_client(moto, "lambda")
    out: dict[str, str] = {}
    for i in range(0, len(services), 10):
        for svc in ecs.describe_services(cluster=CLUSTER, services=services[i:i + 10])[
                "services"]:
            definition = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
            out[svc["serviceName"]] = definition["taskDefinition"]["containerDefinitions"][0][
                "image"]
    for name in functions:
        out[name] = lam.get_function(FunctionName=f"local-{name}")["Code"]["ImageUri"]
    ecs.close()
    lam.close()
    return out


def parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="store_true",
                        help="issue 8 items 1 and 2 as the suite runs them (the defaults)")
    parser.add_argument("--issue5", action="store_true",
                        help="issue 5's comparison: 30 services, 10 s rollouts, ecs-deploy only")
    parser.add_argument("--sizes", default=None, help="ECS services per run (default 1,10,30)")
    parser.add_argument("--lambdas", type=int, default=None,
                        help="Lambda functions deployed with the largest size (default 10)")
    parser.add_argument("--rollout-seconds", type=float, default=None,
                        help="simulated rollout per UpdateService (default 2; --issue5: 10)")
    parser.add_argument("--cli", action=argparse.BooleanOptionalAction, default=None,
                        help="run the AWS CLI sequence (default: yes; --issue5: no)")
    parser.add_argument("--long-rollout-seconds", type=float, default=None,
                        help="then count calls again at this rollout: a new build of the "
                             "largest set vs ecs-deploy's processes at once (default 15; "
                             "--issue5: 0, off)")
    parser.add_argument("--noop", action=argparse.BooleanOptionalAction, default=None,
                        help="item 2: the no-op release and the alternatives again")
    parser.add_argument("--base-port", type=int, default=21000,
                        help="moto; the registry, OIDC issuer and proxy take the next three")
    parser.add_argument("--private-docker", action=argparse.BooleanOptionalAction,
                        default=True, help="start a Docker engine of our own (default)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the sections, do not write bench/RESULTS.md")
    args = parser.parse_args()
    five = args.issue5
    args.sizes = tuple(int(n) for n in (args.sizes or ("30" if five else "1,10,30")).split(","))
    args.lambdas = (0 if five else 10) if args.lambdas is None else args.lambdas
    args.rollout_seconds = (10.0 if five else 2.0) if args.rollout_seconds is None \
        else args.rollout_seconds
    args.cli = (not five) if args.cli is None else args.cli
    args.long_rollout_seconds = (0.0 if five else 15.0) if args.long_rollout_seconds is None \
        else args.long_rollout_seconds
    args.noop = (not five) if args.noop is None else args.noop
    return args


def main() -> None:
    """Set up, run every tool, count, report."""
    args = parse()
    ecs, aws = shutil.which("ecs") or "", shutil.which("aws") or ""
    if not ecs or (args.cli and not aws):
        raise SystemExit("install the alternatives: pip install ecs-deploy awscli")
    began = time.perf_counter()
    print("compiling bytecode for the tools (once; cached in "
          f"{PYCACHE}) ...", flush=True)
    bytecode_cache()
    with tempfile.TemporaryDirectory(prefix="release-bench-deploy-", dir="/tmp",
                                     ignore_cleanup_errors=True) as tmp:
        options = cloud.Options(repo_root=ROOT, state_dir=Path(tmp) / "cloud",
                                moto_port=args.base_port, registry_port=args.base_port + 1,
                                oidc_port=args.base_port + 2, region=REGION)
        engine = (private_docker(Path(tmp) / "e") if args.private_docker
                  else nullcontext(None))
        with engine as docker_host:
            if docker_host:
                os.environ["DOCKER_HOST"] = docker_host
            try:
                print("starting the local cloud ...", flush=True)
                state = cloud.up(options, cloud.Deps()).state
                print(f"    up after {time.perf_counter() - began:.0f} s", flush=True)
                # The bench's own proxy simulates rollouts of a set duration on top of moto
                # itself, not through the local cloud's ECS control plane (which would run
                # every service's tasks as containers: real, but not what is compared here).
                measured = run(args, Path(tmp), ecs, aws,
                               int(state.moto_url.rsplit(":", 1)[1]))
            finally:
                cloud.down(options.state_dir, cloud.Deps())
    measured.seconds = time.perf_counter() - began
    deploy_report.publish(args, measured, write=not args.no_write)


@dataclass
class Bench:
    """One run's world: the sets, the repositories, the tools and what was pushed."""

    args: argparse.Namespace
    sets: Sets
    tmp: Path
    ecs: str  # the ecs-deploy executable
    aws: str  # the AWS CLI executable
    env: dict[str, str] = field(default_factory=dict)  # the alternatives' environment
    images: dict[str, str] = field(default_factory=dict)  # release's service -> REPO@DIGEST
    mirrors: dict[str, str] = field(default_factory=dict)  # alternative's -> release's twin
    files: dict[str, Path] = field(default_factory=dict)  # AWS CLI service -> task.json

    @property
    def registry(self) -> str:
        """The local registry's host:port."""
        return f"127.0.0.1:{self.args.base_port + 1}"

    @property
    def log(self) -> Path:
        """Where the alternatives' output goes."""
        return self.tmp / "alternatives.log"

    def image(self, name: str) -> str:
        """The image an alternative's service or function deploys: its twin's."""
        return self.images[self.mirrors[name]]

    def ecs_deploy(self, service: str, app: str) -> alternatives.Chain:
        """ecs-deploy for one service."""
        return alternatives.ecs_deploy(self.ecs, CLUSTER, service, container=CONTAINER,
                                       image=self.image(service), app=app)

    def cli_ecs(self, service: str, app: str) -> alternatives.Chain:
        """The AWS CLI sequence for one service."""
        return alternatives.aws_cli_ecs(self.aws, CLUSTER, service, family=f"local-{service}",
                                        task_json=self.files[service], app=app)

    def cli_lambda(self, function: str, app: str) -> alternatives.Chain:
        """The AWS CLI sequence for one function."""
        return alternatives.aws_cli_lambda(self.aws, f"local-{function}",
                                           self.image(function), app)


def run(args: argparse.Namespace, tmp: Path, ecs: str, aws: str,
        moto_port: int) -> deploy_report.Measured:
    """Everything between starting the local cloud and stopping it."""
    began = time.perf_counter()
    sets = Sets(args.sizes, args.lambdas)
    bench = Bench(args, sets, tmp, ecs, aws)
    moto = f"http://127.0.0.1:{moto_port}"
    registry = bench.registry
    simulator = RolloutSimulator(args.rollout_seconds, REGION, ACCOUNT)
    measured = deploy_report.Measured(sets.sizes, sets.lambdas, args.rollout_seconds,
                                      long_rollout_seconds=args.long_rollout_seconds)
    with CountingProxy(moto_port, simulator, lifetime=3600,
                       port=args.base_port + 3) as proxy:
        bench.env = tool_env(proxy.url)
        ours = make_repo(tmp / "repo", [WARM_UP, *(s for n in sets.sizes
                                                   for s in sets.release(n))],
                         sets.functions("l"), endpoint=proxy.url, registry=registry)
        theirs = make_repo(tmp / "alternatives",
                           sets.ecs_deploy() + [s for n in sets.sizes if args.cli
                                                for s in sets.cli(n)],
                           sets.functions("el") + (sets.functions("cl") if args.cli else []),
                           endpoint=proxy.url, registry=registry)
        print("seeding the services and functions ...", flush=True)
        seed_all(moto, [ours, theirs])
        print(f"    seeded in {time.perf_counter() - began:.0f} s; warming up (not measured): "
              "release build ...", flush=True)
        run_release(ours, [WARM_UP], "warm-up", "build")  # Docker's layer cache, bytecode
        for n in sets.sizes:
            functions = sets.functions("l") if n == sets.largest else []
            print(f"release deploy: {n} ECS services + {len(functions)} Lambda functions ...",
                  flush=True)
            done = run_release(ours, sets.release(n) + functions, f"rel-{n}")
            measured.release[n] = done
            bench.images |= {str(r["service"]): f"{bench.registry}/bench/{r['service']}@"
                             f"{r['digest']}" for r in done.results}
            print(f"    {done.seconds:.1f} s (build phase {done.build_seconds:.1f} s)",
                  flush=True)
        twins = [(sets.ecs_deploy(), sets.release(sets.largest)),
                 (sets.functions("el"), sets.functions("l")),
                 (sets.functions("cl"), sets.functions("l"))]
        twins += [(sets.cli(n), sets.release(n)) for n in sets.sizes]
        for alts, mine in twins:
            bench.mirrors |= dict(zip(alts, mine, strict=True))
        alternatives_item1(bench, measured, moto)
        if args.noop:
            noop(bench, ours, measured)
        expected = {name: bench.images[name] for n in sets.sizes for name in sets.release(n)}
        expected |= {name: bench.images[name] for name in sets.functions("l")}
        expected |= {alt: bench.image(alt) for alt in bench.mirrors
                     if alt in set(sets.ecs_deploy() + sets.functions("el")) or args.cli}
        if args.long_rollout_seconds:
            simulator.rollout_seconds = args.long_rollout_seconds
            long_rollouts(bench, ours, measured)
            expected |= {name: bench.images[name] for name in sets.release(sets.largest)}
            expected |= {alt: bench.image(alt) for alt in sets.ecs_deploy()}
        measured.calls = {client: proxy.counts.of(client) for client in proxy.counts.clients()}
    functions = [n for n in expected if n.startswith(("l-", "el-", "cl-"))]
    running = running_images(moto, [n for n in expected if n not in functions], functions)
    wrong = [n for n, image in expected.items() if running.get(n) != image]
    if wrong:
        raise SystemExit(f"not running their new image: {wrong}")
    return measured


def alternatives_item1(bench: Bench, measured: deploy_report.Measured, moto: str) -> None:
    """ecs-deploy's loop, then the AWS CLI matrix of each size."""
    sets = bench.sets
    print(f"ecs-deploy: {sets.largest} processes one after the other, then the Lambda "
          "functions with the AWS CLI ...", flush=True)
    loop = [bench.ecs_deploy(s, f"ecsd-{s}") for s in sets.ecs_deploy()]
    loop += [bench.cli_lambda(f, f"ecsd-{f}") for f in sets.functions("el")]
    measured.ecs_deploy = alternatives.sequence(loop, bench.env, bench.log)
    print(f"    {alternatives.wall(measured.ecs_deploy):.1f} s", flush=True)
    if not bench.args.cli:
        return
    bench.files = task_files(moto, {s: bench.image(s) for n in sets.sizes
                                    for s in sets.cli(n)}, bench.tmp)
    for n in sets.sizes:
        chains = [bench.cli_ecs(s, f"cli{n}-{s}") for s in sets.cli(n)]
        if n == sets.largest:
            chains += [bench.cli_lambda(f, f"cli{n}-{f}") for f in sets.functions("cl")]
        print(f"AWS CLI: {len(chains)} chains at once ...", flush=True)
        measured.cli[n] = alternatives.matrix(chains, bench.env, bench.log)
        print(f"    {alternatives.wall(measured.cli[n]):.1f} s", flush=True)


def long_rollouts(bench: Bench, ours: Path, measured: deploy_report.Measured) -> None:
    """Calls at a longer rollout: a new build of the largest set, built first (`release
    build`: no ECS call), then released by one `release deploy` while ecs-deploy runs once
    for each twin service, every process at once. Each tool polls its own rollouts on its
    own clock whatever else runs, so the calls are those of separate runs (CPU contention
    can only make ecs-deploy poll less); ecs-deploy's loop at this rollout would not fit the
    suite's 10 minutes. Only calls are compared here."""
    big = bench.sets.largest
    seconds = bench.args.long_rollout_seconds
    page = ours / "app" / "index.html"
    page.write_text(page.read_text() + "<p>v2</p>\n")
    sandbox.git(ours, "commit", "-qam", "v2: a new build of every service")
    print(f"{seconds:g} s rollouts: release build of a new build of the {big} services ...",
          flush=True)
    built = run_release(ours, bench.sets.release(big), "long-build", "build")
    bench.images |= {str(r["service"]): f"{bench.registry}/bench/{r['service']}@"
                     f"{r['digest']}" for r in built.results}
    chains = [bench.ecs_deploy(s, f"long-ecsd-{s}") for s in bench.sets.ecs_deploy()]
    print(f"{seconds:g} s rollouts: release deploy and ecs-deploy ({len(chains)} processes), "
          "all at once ...", flush=True)
    box: dict[str, Any] = {}

    def theirs() -> None:
        try:
            box["timed"] = alternatives.matrix(chains, bench.env, bench.log)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=theirs, daemon=True)
    thread.start()
    done = run_release(ours, bench.sets.release(big), "long-rel")
    thread.join(timeout=1200)
    if "timed" not in box:
        raise SystemExit(f"ecs-deploy at {seconds:g} s rollouts: {box.get('error')}")
    if any(r["built"] for r in done.results):
        raise SystemExit("release deploy built images release build had pushed")
    measured.long_release = done
    measured.long_ecs_deploy = box["timed"]
    print(f"    release {done.seconds:.1f} s, ecs-deploy "
          f"{alternatives.wall(measured.long_ecs_deploy):.1f} s", flush=True)


def noop(bench: Bench, ours: Path, measured: deploy_report.Measured) -> None:
    """Item 2: release again with nothing changed. The alternatives read nothing that could
    tell them so: they repeat item 1's work, whose runs stand for theirs; ecs-deploy is run
    again on one unchanged service to show it (a new revision and a rollout)."""
    big = bench.sets.largest
    print(f"no-op: release deploy of the {big} services again ...", flush=True)
    measured.noop_release = run_release(ours, bench.sets.release(big), "noop-rel")
    print(f"    {measured.noop_release.seconds:.2f} s", flush=True)
    again = bench.sets.ecs_deploy()[0]
    print(f"no-op: ecs-deploy again on {again} (unchanged) ...", flush=True)
    measured.noop_ecs_deploy = alternatives.sequence(
        [bench.ecs_deploy(again, f"noop-ecsd-{again}")], bench.env, bench.log)
    print(f"    {alternatives.wall(measured.noop_ecs_deploy):.1f} s", flush=True)


if __name__ == "__main__":
    main()
