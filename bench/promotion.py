"""Item 3: promote an already-built image to a second environment vs build it again.

    python bench/promotion.py [--runs 1] [--no-write]

In one run, all on 127.0.0.1, with a Docker engine and a local cloud of its own (moto,
registry and OIDC issuer on --base-port and the two ports after it), stopped by PID:

1. a git copy of the examples with two more environments beside `local` (A): `staging` (B)
   and `preprod` (C), each with its own ECS cluster, services, Lambda functions, state
   machine and bucket, seeded in moto;
2. `release deploy --env local` on the fresh engine (no layer cache): every image built;
3. the same again, unchanged: the no-op release (item 2's old form, kept here);
4. `release deploy --env staging`: the promotion. It must build nothing (the deploy
   result's `built` flags, and the engine's own events: no image built or tagged, no
   build container made) and deploy the digests A runs;
5. what a pipeline that rebuilds per environment pays: the build cache emptied (every
   image but the base removed from the engine), new build keys (a new commit changes an
   unused build arg: the images are the same), `release deploy --env preprod`, which
   builds and pushes every image again and deploys it;
6. the plan job of B before step 4 (`release plan --find-images`, what deploy.yml's plan job
   runs): every image found, so no build job; the time the plan spends on the lookups (its
   own clock) is what the promotion's build stage costs; then the build job of C, cold
   (`release build`, after C's plan gave every image a build job): the rebuild's build
   stage. The ratio the target is judged on. `release build` for B (a build job that finds
   every image) is shown too.

Every `release deploy` is a whole process with the environment a CI job has (OIDC token
endpoint, AWS endpoint, Docker host). --runs repeats it all on a new copy, the engine
emptied first; medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from engine import private_docker  # noqa: E402
from results import STORE, Headline, record, replace_section, stop_on_sigterm  # noqa: E402

from release.local import cloud, docker_engine, sandbox  # noqa: E402
from release.local.base_images import BUSYBOX_IMAGE  # noqa: E402
from release.local.state import LocalState  # noqa: E402

LOCAL_LABELS = "dev.release.local."

ITEM = 3
TARGET = 0.05  # promotion under 5 % of the rebuild's wall time
LEGACY = "## First release vs no-op release of the examples"
PROMOTED, REBUILT = "staging", "preprod"
PLAN_RUNS = 3  # B's plan job, timed 3 times


@dataclass(frozen=True)
class Deploy:
    """One `release deploy` process: wall time, what it reported, what the engine saw."""

    environment: str
    seconds: float
    results: tuple[dict[str, Any], ...]
    engine: Counter[str]  # "type:action" -> count of Docker engine events during the run
    stderr: tuple[tuple[float, str], ...] = ()  # its log lines, seconds since its start

    @property
    def built(self) -> int:
        """Images the deploy says it built."""
        return len({r["service"] for r in self.results if r["built"]})

    @property
    def engine_builds(self) -> int:
        """Images the engine tagged (each build ends with one tag)."""
        return self.engine["image:tag"]

    @property
    def changed(self) -> int:
        """Targets registered or updated."""
        return sum(bool(r["registered"] or r["updated"]) for r in self.results)

    def digests(self) -> dict[str, str]:
        """Service -> image digest deployed."""
        return {str(r["service"]): str(r["digest"]) for r in self.results if r["digest"]}


def add_environments(root: Path) -> None:
    """environments/staging.yaml and preprod.yaml: local.yaml with names of their own."""
    local = yaml.safe_load((root / "environments" / "local.yaml").read_text())
    for name in (PROMOTED, REBUILT):
        env = dict(local, name=name)
        env["ecs"] = {"cluster": name}
        env["s3"] = {"bucket": f"release-{name}-artifacts"}
        (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "two more environments")


def seed_all(root: Path, state: LocalState) -> None:
    """Empty moto, then create what every environment points at."""
    sandbox.reset_and_seed(root, state.aws_endpoint_url)
    sandbox.seed_environments(root, (PROMOTED, REBUILT))


def deploy(root: Path, environment: str, state: LocalState, engine: Any,
           profile: Path | None = None, *, verb: str = "deploy") -> Deploy:
    """`release deploy --env ENV` (or `release build`, the build job of the workflow) as a
    whole process, with a CI job's environment (under pyinstrument, its report written to
    ``profile``, when given)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_"))}
    env |= state.environment()
    runner = [sys.executable] if profile is None else [
        sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile)]
    argv = [*runner, "-m", "release", verb, "--env", environment, "--root",
            str(root), "--output", "json"]
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile() as out:
        start_ns = time.time_ns()
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        watchdog = threading.Timer(900, proc.kill)
        watchdog.start()
        assert proc.stderr is not None
        try:
            for line in proc.stderr:  # each line stamped with its time since the start
                lines.append((time.perf_counter() - began, line.rstrip("\n")))
            code = proc.wait(timeout=60)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - began
        end_ns = time.time_ns()
        out.seek(0)
        stdout = out.read().decode()
    if code != 0:
        tail = "\n".join(line for _, line in lines[-40:])
        raise SystemExit(f"release {verb} --env {environment} failed ({code}):\n{tail}")
    events = Counter(_event_key(e)
                     for e in engine.events(since=start_ns // 10**9 - 1,
                                            until=end_ns // 10**9 + 1, decode=True)
                     if start_ns <= int(e.get("timeNano", 0)) <= end_ns)
    data = json.loads(stdout)["data"]
    results = tuple(data["results"]) if verb == "deploy" else tuple(
        {"service": i["service"], "built": i["status"] == "built", "registered": False,
         "updated": False, "digest": i["digest"], "status": i["status"]}
        for i in data["images"])
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        raise SystemExit(f"release {verb} --env {environment}: failed {failed}")
    STORE.mkdir(parents=True, exist_ok=True)
    (STORE / f"promotion-{verb}-{environment}.log").write_text(
        "".join(f"{t:7.2f} {line}\n" for t, line in lines))
    return Deploy(environment, seconds, results, events, tuple(lines))


def _event_key(event: dict[str, Any]) -> str:
    """``type:action`` of an engine event; the containers the local cloud runs for what it
    deploys (ECS tasks, labelled ``dev.release.local.*`` by its control plane) count as
    ``task:action``, so ``container:create`` is only what a build made."""
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    ran = any(name.startswith(LOCAL_LABELS) for name in attributes)
    kind = "task" if ran else event.get("Type")
    return f"{kind}:{event.get('Action')}"


@dataclass(frozen=True)
class Plans:
    """`release plan --env ENV --find-images` runs: wall times, the time each spent on the
    image lookups (its own clock, the lookups' imports included), and what the last said."""

    seconds: tuple[float, ...]
    lookups: tuple[float, ...]
    planned: tuple[str, ...]
    to_build: tuple[str, ...]

    @property
    def lookup_seconds(self) -> float:
        """What --find-images adds to the plan job: the registry login and lookups."""
        return float(statistics.median(self.lookups))


def plans(root: Path, environment: str, state: LocalState, runs: int = PLAN_RUNS) -> Plans:
    """The plan job's `release plan --find-images` for ``environment``, as CI runs it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_"))}
    env |= state.environment()
    argv = [sys.executable, "-m", "release", "plan", "--env", environment, "--root", str(root),
            "--output", "json", "--find-images"]
    seconds, lookups = [], []
    data: dict[str, Any] = {}
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        seconds.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"release plan --env {environment} failed:\n{done.stderr}")
        data = json.loads(done.stdout)["data"]
        lookups.append(float(data["image_lookup_seconds"]))
    return Plans(tuple(seconds), tuple(lookups),
                 tuple(e["service"] for e in data["services"]), tuple(data["build"]))


def running_images(root: Path, environment: str) -> dict[str, str]:
    """Service -> the image its ECS service or Lambda alias runs, asked of moto directly."""
    from release.adapters.aws.clients import AwsClients
    from release.config import load_config

    config = load_config(root, (environment,))
    env = config.environments[environment]
    assert env.aws is not None
    clients = AwsClients(env.aws)
    images: dict[str, str] = {}
    try:
        ecs, lam = clients.client("ecs"), clients.client("lambda")
        for name, dep in env.deployments.items():
            if dep.ecs is not None:
                svc = ecs.describe_services(cluster=dep.ecs.cluster,
                                            services=[dep.ecs.service])["services"][0]
                task = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
                images[name] = task["taskDefinition"]["containerDefinitions"][0]["image"]
            elif dep.lambda_ is not None:
                function = lam.get_function(FunctionName=dep.lambda_.function,
                                            Qualifier=dep.lambda_.alias)
                images[name] = function["Code"]["ImageUri"]
    finally:
        clients.close()
    return images


def stop_tasks(state: LocalState, engine: Any) -> None:
    """Scale every service of the local cloud to 0 and wait (at most a minute) until its ECS
    control plane has stopped their task containers, which hold the images a cold rebuild
    must not find."""
    import boto3

    ecs = boto3.client("ecs", endpoint_url=state.aws_endpoint_url, region_name="eu-west-1",
                       aws_access_key_id="bench",
                       aws_secret_access_key="bench")  # noqa: S106 - moto takes any key
    for cluster in ecs.list_clusters()["clusterArns"]:
        for service in ecs.list_services(cluster=cluster, maxResults=100)["serviceArns"]:
            ecs.update_service(cluster=cluster, service=service, desiredCount=0)
    deadline = time.monotonic() + 60
    while engine.containers.list(all=True, filters={"label": LOCAL_LABELS + "plane"}):
        if time.monotonic() > deadline:
            raise SystemExit("the local cloud's task containers did not stop within 60 s")
        time.sleep(0.5)


def clear_build_cache(engine: Any) -> int:
    """Remove every image but the base (the classic builder's cache is its images)."""
    removed = 0
    for image in engine.images.list():
        if BUSYBOX_IMAGE in image.tags:
            continue
        engine.images.remove(image.id, force=True, noprune=False)
        removed += 1
    left = [i for i in engine.images.list(all=True) if BUSYBOX_IMAGE not in i.tags]
    if left:
        raise SystemExit(f"images left after clearing the cache: {left}")
    return removed


def new_build_keys(root: Path) -> None:
    """Commit a new value of the sandbox's unused build arg: every build key changes."""
    path = root / "release.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["defaults"]["build_args"]["SANDBOX_RUN"] = uuid.uuid4().hex
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    sandbox.git(root, "commit", "-qam", "rebuild")


@dataclass(frozen=True)
class Round:
    """One pass through the four releases."""

    first: Deploy
    noop: Deploy
    promoted: Deploy
    rebuilt: Deploy
    cache_images_removed: int
    promote_job: Deploy  # `release build --env B`: the build job of a promotion
    rebuild_job: Deploy  # `release build --env C`, cold: the build job of a rebuild
    promote_plan: Plans  # B's plan job before the promotion: every image found
    rebuild_plan: Plans  # C's plan job after the new commit: every image to build


def one_round(work: Path, state: LocalState, engine: Any, profile: Path | None) -> Round:
    """First, no-op, promotion, rebuild; each checked."""
    root = sandbox.make(ROOT, work / "repo", aws_endpoint=state.aws_endpoint_url,
                        registry_host=state.registry_host)
    add_environments(root)
    seed_all(root, state)
    first = deploy(root, "local", state, engine)
    if not first.built:
        raise SystemExit("the first release built nothing")
    noop = deploy(root, "local", state, engine)
    if noop.built or noop.changed or noop.engine_builds:
        raise SystemExit(f"the no-op release changed something: {noop}")
    # B's plan job, as deploy.yml runs it: every service planned, every image found, so
    # no build job is started at all.
    promote_plan = plans(root, PROMOTED, state)
    with_image = {r["service"] for r in first.results if r["built"]}
    if not set(promote_plan.planned) >= with_image or promote_plan.to_build:
        raise SystemExit(f"B's plan: planned {promote_plan.planned}, to build "
                         f"{promote_plan.to_build}; expected every image found")
    promoted = deploy(root, PROMOTED, state, engine, profile)
    if promoted.built or promoted.engine_builds or promoted.engine["container:create"]:
        raise SystemExit(f"the promotion built: built flags {promoted.built}, engine events "
                         f"{dict(promoted.engine)}")
    if promoted.digests() != first.digests():
        raise SystemExit(f"the promotion deployed other digests: {promoted.digests()} "
                         f"vs {first.digests()}")
    running_a, running_b = running_images(root, "local"), running_images(root, PROMOTED)
    if running_b != running_a or any("@sha256:" not in image for image in running_b.values()):
        raise SystemExit(f"B does not run A's digests: {running_b} vs {running_a}")
    if promoted.changed != first.changed:
        raise SystemExit(f"the promotion changed {promoted.changed} targets, the first "
                         f"release {first.changed}")
    # The build job alone (`release build`, as deploy.yml runs it before the deploy job):
    # for B it finds every image and builds none; for C, cold, it builds them all again.
    promote_job = deploy(root, PROMOTED, state, engine, verb="build")
    if promote_job.built or promote_job.engine_builds:
        raise SystemExit(f"the promotion's build job built: {promote_job}")
    stop_tasks(state, engine)
    clear_build_cache(engine)
    new_build_keys(root)
    rebuild_plan = plans(root, REBUILT, state, runs=1)
    if set(rebuild_plan.to_build) != with_image:
        raise SystemExit(f"C's plan after a new commit builds {rebuild_plan.to_build}, "
                         f"expected {sorted(with_image)}")
    rebuild_job = deploy(root, REBUILT, state, engine, verb="build")
    if rebuild_job.built != first.built:
        raise SystemExit(f"the rebuild's build job built {rebuild_job.built} images, the "
                         f"first release {first.built}")
    removed = clear_build_cache(engine)
    new_build_keys(root)
    rebuilt = deploy(root, REBUILT, state, engine)
    if rebuilt.built != first.built or rebuilt.changed != first.changed:
        raise SystemExit(f"the rebuild built {rebuilt.built} images and changed "
                         f"{rebuilt.changed} targets, the first release {first.built} and "
                         f"{first.changed}")
    return Round(first, noop, promoted, rebuilt, removed, promote_job, rebuild_job,
                 promote_plan, rebuild_plan)


def section(rounds: list[Round], base_port: int) -> str:
    """The Markdown section for bench/RESULTS.md."""
    def med(pick: str) -> float:
        return float(statistics.median(getattr(r, pick).seconds for r in rounds))

    first, noop, promoted, rebuilt = (med(p) for p in ("first", "noop", "promoted", "rebuilt"))
    promote_job, rebuild_job = med("promote_job"), med("rebuild_job")
    ratio = promoted / rebuilt
    job_ratio = promote_job / rebuild_job
    lookup = float(statistics.median(r.promote_plan.lookup_seconds for r in rounds))
    stage_ratio = lookup / rebuild_job
    last = rounds[-1]
    verdict = "target met" if stage_ratio < TARGET else "target not met"
    pp = last.promote_plan
    plan_seconds = statistics.median(pp.seconds)
    runs = len(rounds)

    def row(label: str, d: Deploy, seconds: float) -> str:
        return (f"| {label} | {seconds:.2f} s | {d.built} | {d.engine_builds} | "
                f"{d.engine['container:create']} | {d.changed} |")

    rows = "\n".join([
        row("A `local`, first release, empty engine (no layer cache)", last.first, first),
        row("A `local` again, same commit (no-op)", last.noop, noop),
        row(f"B `{PROMOTED}`: promotion of A's images", last.promoted, promoted),
        row(f"C `{REBUILT}`: the same images built again, no layer cache", last.rebuilt,
            rebuilt),
        row(f"build job only, B: `release build --env {PROMOTED}`", last.promote_job,
            promote_job),
        row(f"build job only, C: `release build --env {REBUILT}`, no layer cache",
            last.rebuild_job, rebuild_job)])
    targets = len(last.first.results)
    b = last.promoted
    plan_at = next((t for t, line in b.stderr if line.startswith("plan:")), 0.0)
    last_line = b.stderr[-1][0] if b.stderr else 0.0
    built_c = last.rebuilt
    pushed = [t for t, line in built_c.stderr if ": pushed " in line]
    building = [t for t, line in built_c.stderr if ": building " in line]
    build_phase = (max(pushed) - min(building)) if pushed and building else 0.0
    return f"""## {ITEM}. Promotion to a second environment vs building again: {verdict}

Reproduce: `python bench/promotion.py --runs {runs}` (its own dockerd and a private local
cloud on 127.0.0.1:{base_port}-{base_port + 2}, stopped by PID). Measured
{dt.date.today().isoformat()}; {"median of " + str(runs) + " runs" if runs > 1 else "one run"}.

Each row is a whole `release deploy` process (interpreter start, OIDC login, plan, builds,
pushes, {targets} targets: 3 ECS services, 4 Lambda functions, a state machine, S3 files)
on a git copy of the examples with three environments seeded in moto. "Built" is the
number of images the deploy result marks `built`; the engine columns count the Docker
engine's own events during the process (an image tag ends every build; the classic
builder runs each Dockerfile step in a container it makes).

| release | wall time | built | engine: image tags | engine: containers made | targets changed |
|---|---|---|---|---|---|
{rows}

Promotion / rebuild, the build stage of the pipeline (deploy.yml: plan job -> build jobs ->
deploy job): **{stage_ratio:.1%}** (target: under {TARGET:.0%}). B's plan job
(`release plan --find-images`, reconcile: every service planned, as before any promotion) finds each
planned image in the registry by its build key and gives it no build job: the build stage
of a promotion is {len(pp.to_build)} build jobs, and what it costs is what --find-images
adds to the plan job: {lookup * 1000:.0f} ms by the plan's own clock (`image_lookup_seconds`
in its JSON: importing the registry code, one registry login and a HEAD per image; median of
{len(pp.seconds)} runs of the whole plan, {plan_seconds:.2f} s each, interpreter start, OIDC
login and reading what B runs included). A rebuild's build stage is the build job of C,
cold (`release build --env {REBUILT}`: start-up, OIDC login, builds and pushes of every
image): {rebuild_job:.1f} s.
C's plan with --find-images, after the new commit, gave every image a build job
({len(last.rebuild_plan.to_build)}), so a missing image is never skipped.

Were a build job started for B anyway, it would find every image and build none:
`release build --env {PROMOTED}` took {promote_job:.2f} s ({job_ratio:.1%} of C's), nearly all
of it interpreter start, imports and the AWS login that every job pays. The whole release
(build and deploy in one `release deploy`): {ratio:.1%}; the deploy work after the images
(registering, updating and waiting for {targets} targets) is the same for B and C and
dominates here, see below.
B built nothing and runs exactly the digests A runs (each ECS service's task definition and
each Lambda alias read back from moto: the same `repo@sha256:...` per service). no-op / first
= {noop / first:.2f}.

Where the time goes (the last round's stderr, stamped as it came; the logs are kept in
bench/.results/promotion-*.log): B printed its plan {plan_at:.1f} s after it started
(interpreter start, imports, OIDC login, reading what each target runs, asking the registry
for each build key), its last progress line at {last_line:.1f} s (registrations and the
start of the ECS rollouts), and ended at {b.seconds:.1f} s: in between it deployed the Lambda
functions, the state machine and the S3 files and waited for the rollouts to complete, which
it does not log. C spent {build_phase:.1f} s from its first "building" to its last "pushed"
line, the builds and pushes B did not need; without them C took
{built_c.seconds - build_phase:.1f} s, about what B took.

How the rebuild was made: after B, every image but the base was removed from the engine
({last.cache_images_removed} images: the classic builder's layer cache is its images), and
a new commit changed a build arg no Dockerfile reads, so every build key is new and the
registry has none of them: the pipeline that builds per environment. Its pushes may find
layers of identical content already in the registry and skip them, which can only favour
the rebuild. The examples' images are small (a busybox base, a few COPY and one `RUN chmod`):
their cold builds take seconds, where real images that install dependencies take minutes,
so the ratio here is the least favourable one for promotion: what is left of B's time is
the release itself (start-up, OIDC, reading what runs, registering and updating
{targets} targets), the same work C does besides building.
"""


def main() -> None:
    """Run the rounds; write the section and the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=22000,
                        help="moto; the registry and the OIDC issuer take the next two ports")
    parser.add_argument("--no-write", action="store_true",
                        help="print the section, do not write bench/RESULTS.md")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="run the promotion under pyinstrument, its text report to FILE "
                        "(implies --no-write: the profiler slows it down)")
    args = parser.parse_args()
    stop_on_sigterm()
    if args.profile:
        args.no_write = True
        args.profile = args.profile.resolve()
    with tempfile.TemporaryDirectory(prefix="release-bench-promotion-", dir="/tmp",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        with private_docker(work / "engine") as host:
            os.environ["DOCKER_HOST"] = host
            rounds = measure(args, work, host)
    text = section(rounds, args.base_port)
    print(text)
    if args.no_write:
        return
    replace_section(ITEM, text, legacy=LEGACY)
    promoted = statistics.median(r.promoted.seconds for r in rounds)
    rebuilt = statistics.median(r.rebuilt.seconds for r in rounds)
    first = statistics.median(r.first.seconds for r in rounds)
    noop = statistics.median(r.noop.seconds for r in rounds)
    ratio = promoted / rebuilt
    promote_job = statistics.median(r.promote_job.seconds for r in rounds)
    rebuild_job = statistics.median(r.rebuild_job.seconds for r in rounds)
    job_ratio = promote_job / rebuild_job
    lookup = statistics.median(r.promote_plan.lookup_seconds for r in rounds)
    stage_ratio = lookup / rebuild_job
    record(ITEM, {"runs": args.runs, "first_s": first, "noop_s": noop,
                  "promotion_s": promoted, "rebuild_s": rebuilt, "ratio": ratio,
                  "promotion_job_s": promote_job, "rebuild_job_s": rebuild_job,
                  "job_ratio": job_ratio, "lookup_s": lookup, "stage_ratio": stage_ratio,
                  "promotion_build_jobs": max(len(r.promote_plan.to_build) for r in rounds),
                  "promotion_builds": max(r.promoted.built for r in rounds),
                  "promotion_engine_tags": max(r.promoted.engine_builds for r in rounds)},
           [Headline("promotion / rebuild, the build stage (promotion: 0 build jobs, the "
                     "plan's image lookups; rebuild: the build job)",
                     f"{stage_ratio:.1%} ({lookup * 1000:.0f} ms / {rebuild_job:.1f} s)",
                     f"under {TARGET:.0%}", stage_ratio < TARGET),
            Headline("promotion / rebuild, a build job that finds every image "
                     "(`release build`)",
                     f"{job_ratio:.1%} ({promote_job:.2f} s / {rebuild_job:.1f} s)", "-", None),
            Headline("promotion / rebuild, the whole release (`release deploy`)",
                     f"{ratio:.1%} ({promoted:.1f} s / {rebuilt:.1f} s)", "-", None),
            Headline("builds during promotion", "0", "0", met=True)])


def measure(args: argparse.Namespace, work: Path, host: str) -> list[Round]:
    """Bring the cloud up on our engine, run the rounds, bring it down."""
    options = cloud.Options(repo_root=ROOT, state_dir=work / "cloud", moto_port=args.base_port,
                            registry_port=args.base_port + 1, oidc_port=args.base_port + 2)
    engine = docker_engine.client(host)
    try:
        print("starting the local cloud ...", flush=True)
        state = cloud.up(options, cloud.Deps()).state
        rounds = []
        for i in range(args.runs):
            began = time.perf_counter()
            done = one_round(work / f"round-{i}", state, engine, args.profile)
            rounds.append(done)
            print(f"round {i + 1}: first {done.first.seconds:.2f} s, no-op "
                  f"{done.noop.seconds:.2f} s, promotion {done.promoted.seconds:.2f} s, "
                  f"rebuild {done.rebuilt.seconds:.2f} s "
                  f"(round {time.perf_counter() - began:.0f} s)", flush=True)
            if i + 1 < args.runs:
                clear_build_cache(engine)  # the next first release starts cold as well
        return rounds
    finally:
        engine.close()
        cloud.down(options.state_dir, cloud.Deps())


if __name__ == "__main__":
    main()
