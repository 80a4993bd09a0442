"""Item 7: builds on a fresh runner, with the registry cache and without; concurrent builds.

    python bench/build_cache.py [--no-write]

The example (bench/build_example/): three services on a locally made Python base image,
each with a real dependency layer (pinned PyPI packages installed by pip through a BuildKit
cache mount) and its application copied last. The base image is a ``docker import`` of a
Debian bookworm minbase root filesystem with python3 and pip, made by debootstrap once and
kept as a tarball under ~/.cache/release-bench/ (or $RELEASE_BENCH_CACHE).

Every image is built by ``release build`` (a whole process with a CI job's environment, its
BuildKit path: here the engine's embedded BuildKit through Debian's docker.io client) on a
FRESH engine: a dockerd of the benchmark's own with a new data root (what a new runner has),
stopped by PID, against a local cloud of the benchmark's own (moto, registry, OIDC issuer on
three free ports of 127.0.0.1) and a sandbox copy of the examples with the bench services
added twice (one set per way of building, each in repositories of its own). In one run:

1. ``release build --builds 1`` of the first set, cold: the previous build (its build-key
   image and ``:buildcache`` pushed with their inline cache);
2. ``release build --builds N`` (N: one per CPU, at most the number of images) of the
   second set, cold, on another fresh engine;
3. a one-line change to the api service's application, committed, then on three more fresh
   engines: ``release build`` of the first set's api (the registry cache, the default), of
   the second set's api with ``cache: {registry: false}``, and plain ``docker build -t`` +
   ``docker push`` (no cache flags, as README checklists do); and plain ``docker build``
   again on the engine of 1, whose local layer cache a long-lived machine would have.

Each engine gets the base image by ``docker import`` before its builds (not timed: a hub
pull on a real runner, the same for every arm). The target is judged on the build job
(``release build``'s wall time: login, lookup, build, push); the builds alone are shown
too. Not a test: it takes a few minutes and starts engines. release build's log goes to
bench/.results/build-cache-release.log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from engine import private_docker  # noqa: E402
from results import STORE, Headline, record, replace_section, stop_on_sigterm  # noqa: E402

from release.local import cloud, sandbox  # noqa: E402
from release.local.state import LocalState  # noqa: E402

ITEM = 7
TARGET = 0.25  # the cached rebuild takes at most 25 % of the cold one
EXAMPLE = HERE / "build_example"
SERVICES = ("api", "worker", "reports")
CHANGED = "api"  # the service whose one-line change is rebuilt
CHANGED_FILE = "app/main.py"
SEQ, PAR = "seq", "par"  # the set built one at a time, the set built concurrently
DOCKER = "/usr/bin/docker"  # Debian's docker.io client: BuildKit built in
BASE_IMAGE = "release-base/python:3"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
EXTRA_CAS = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = 600.0
_STEP = re.compile(r"^#(\d+) \[(?:[\w.-]+ )?(\d+)/(\d+)\] (.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class RootFs:
    """The base image's root filesystem tarball and what making it cost."""

    path: Path
    debootstrap_s: float  # when it was made (now or on an earlier run)
    made_now: bool


@dataclass(frozen=True)
class Build:
    """One ``docker build``: its wall time and its steps, cached or not."""

    service: str
    seconds: float
    steps: tuple[str, ...]  # "[2/5] COPY requirements.txt ." ... (FROM left out)
    cached: tuple[str, ...]  # the steps BuildKit reported CACHED
    push_s: float = 0.0  # the push right after, when there was one
    release: bool = False  # built by `release build` (its steps are counted, not named)

    @property
    def hits(self) -> str:
        """``3/4`` steps cached."""
        return f"{len(self.cached)}/{len(self.steps)}"

    @property
    def job_s(self) -> float:
        """Build and push: what a release's build job spends on this image."""
        return self.seconds + self.push_s


@dataclass(frozen=True)
class BuildSpec:
    """A plain ``docker build``: the tag, the context, with or without the inline cache."""

    service: str
    context: Path
    tag: str
    inline_cache: bool = False  # --build-arg BUILDKIT_INLINE_CACHE=1


def cache_dir() -> Path:
    """Where the rootfs tarball is kept between runs."""
    found = os.environ.get("RELEASE_BENCH_CACHE")
    return Path(found) if found else Path.home() / ".cache" / "release-bench"


def extra_cas() -> list[Path]:
    """This machine's own CA certificates (a TLS-inspecting egress proxy's, a company's)."""
    return sorted(EXTRA_CAS.glob("*.crt")) if EXTRA_CAS.is_dir() else []


def ensure_rootfs(where: Path) -> RootFs:
    """The bookworm + python3 + pip root filesystem as a tar, debootstrapped once.

    The machine's own CA certificates go in too, as a company's base image carries them, so
    pip inside a build trusts what the machine trusts; the tarball's name carries their hash.
    """
    cas = extra_cas()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in cas)).hexdigest()[:12]
    tarball = where / f"debian-{SUITE}-python3-{digest}.tar"
    meta = tarball.with_suffix(".json")
    if tarball.is_file() and meta.is_file():
        return RootFs(tarball, float(json.loads(meta.read_text())["debootstrap_s"]), False)
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SystemExit("debootstrap not found: apt-get install -y debootstrap "
                         "(bash scripts/bench.sh installs it)")
    where.mkdir(parents=True, exist_ok=True)
    print(f"making the base image's root filesystem (debootstrap {SUITE}, once; kept in "
          f"{tarball}) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=where) as tmp:
        rootfs = Path(tmp) / "root"
        began = time.perf_counter()
        subprocess.run([debootstrap, "--variant=minbase",
                        "--include=python3,python3-pip,ca-certificates",
                        SUITE, str(rootfs), MIRROR], check=True, stdout=subprocess.DEVNULL,
                       timeout=1800)
        seconds = time.perf_counter() - began
        if cas:
            for ca in cas:
                shutil.copyfile(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
            subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True,
                           stdout=subprocess.DEVNULL, timeout=120)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
                       check=True, timeout=600)
        partial.replace(tarball)
    meta.write_text(json.dumps({"debootstrap_s": round(seconds, 1), "suite": SUITE,
                                "mirror": MIRROR, "extra_cas": [p.name for p in cas],
                                "made": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
                    + "\n")
    return RootFs(tarball, seconds, True)


def docker(host: str, *args: str, config: Path, timeout: float = BUILD_TIMEOUT,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's docker client against ``host`` with BuildKit on; fail loudly."""
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "1",
           "DOCKER_CONFIG": str(config)}
    done = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:2])} failed (exit {done.returncode}):\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")
    return done


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``docker build`` arguments for ``spec``: no cache flags unless asked."""
    argv = ["build", "--network", "host", "--progress", "plain", "-t", spec.tag]
    if spec.inline_cache:
        argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    return [*argv, str(spec.context)]


def parse_steps(log: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The Dockerfile steps after FROM of a plain-progress BuildKit log, and those it
    found cached (FROM is the base image, on the engine before the build)."""
    steps: dict[str, str] = {}
    cached: set[str] = set()
    for line in log.splitlines():
        if (found := _STEP.match(line)) and not found.group(4).startswith("FROM "):
            steps.setdefault(found.group(1), f"[{found.group(2)}/{found.group(3)}] "
                                              f"{found.group(4)}")
        elif found := _CACHED.match(line):
            cached.add(found.group(1))
    ordered = sorted(steps.items(), key=lambda kv: int(kv[0]))
    return (tuple(text for _, text in ordered),
            tuple(text for vertex, text in ordered if vertex in cached))


def build(host: str, spec: BuildSpec, config: Path, *, push: bool = False) -> Build:
    """One timed build, and with ``push`` its timed push."""
    began = time.perf_counter()
    done = docker(host, *build_argv(spec), config=config)
    seconds = time.perf_counter() - began
    steps, cached = parse_steps(done.stdout + done.stderr)
    push_s = timed_push(host, spec.tag, config) if push else 0.0
    print(f"  {spec.service}: {seconds:.1f} s, {len(cached)}/{len(steps)} steps cached"
          f"{f', pushed in {push_s:.1f} s' if push else ''} "
          f"({' '.join(build_argv(spec)[5:-1]) or 'no cache flags'})", flush=True)
    return Build(spec.service, seconds, steps, cached, push_s)


def timed_push(host: str, tag: str, config: Path) -> float:
    """Push ``tag``; its wall time."""
    began = time.perf_counter()
    docker(host, "push", tag, config=config)
    return time.perf_counter() - began


def layer_sizes(host: str, tag: str, config: Path) -> list[str]:
    """The sizes of ``tag``'s layers, newest first, as ``docker history`` shows them."""
    done = docker(host, "history", "--format", "{{.Size}}", tag, config=config)
    return done.stdout.split()


def import_base(host: str, rootfs: Path, config: Path) -> float:
    """``docker import`` the base image into a fresh engine; its wall time."""
    began = time.perf_counter()
    docker(host, "import", "--change",
           "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "--change", 'CMD ["python3"]', str(rootfs), BASE_IMAGE, config=config)
    return time.perf_counter() - began


@contextmanager
def fresh_engine(where: Path, rootfs: Path, config: Path) -> Iterator[str]:
    """A new dockerd with an empty data root and the base image; removed afterwards."""
    with private_docker(where) as host:
        seconds = import_base(host, rootfs, config)
        print(f"fresh engine {where.name}: base image imported in {seconds:.1f} s", flush=True)
        yield host
    shutil.rmtree(where, ignore_errors=True)


def free_ports(count: int = 3) -> int:
    """The first of ``count`` consecutive TCP ports on 127.0.0.1 nobody listens on now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count < 65536 and all(_free(base + i) for i in range(1, count)):
            return base
    raise SystemExit("no free ports on 127.0.0.1 for the local cloud")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def change_one_line(context: Path) -> None:
    """The one-line application change between the builds."""
    path = context / CHANGED_FILE
    text = path.read_text()
    changed = re.sub(r'^GREETING = ".*"$', 'GREETING = "predictions api, v2"', text,
                     count=1, flags=re.MULTILINE)
    if changed == text:
        raise SystemExit(f"{path}: no GREETING line to change")
    path.write_text(changed)


def service_name(service: str, group: str) -> str:
    """``bench-api`` (the set built one at a time) or ``bench-api-par``."""
    return f"bench-{service}" + ("" if group == SEQ else f"-{group}")


def add_services(root: Path) -> None:
    """The example's services, twice (one set built one at a time, one concurrently, each in
    repositories of its own so neither reads the other's cache), in the sandbox's
    release.yaml and its local environment; committed."""
    spec = yaml.safe_load((root / "release.yaml").read_text())
    env = yaml.safe_load((root / "environments" / "local.yaml").read_text())
    for group in (SEQ, PAR):
        for service in SERVICES:
            name = service_name(service, group)
            shutil.copytree(EXAMPLE / service, root / "bench-services" / group / service)
            spec["services"][name] = {
                "context": f"bench-services/{group}/{service}",
                "repository": f"bench-{group}/{service}",
                "build_args": {"BASE_IMAGE": BASE_IMAGE}, "lambda": {}}
            env["services"][name] = {}
    (root / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "environments" / "local.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    sandbox.git(root, "add", "-A")
    sandbox.git(root, "commit", "-qm", "the build benchmark's services")


@dataclass(frozen=True)
class ReleaseBuild:
    """One `release build` process: its wall time and each image's build."""

    seconds: float
    images: tuple[Build, ...]
    at_once: int


def release_build(root: Path, state: LocalState, host: str, services: Sequence[str],
                  at_once: int) -> ReleaseBuild:
    """`release build --env local --builds N SERVICE...` against ``host``, as a CI build job
    runs it (OIDC token endpoint, AWS endpoint); each image must be built now."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_", "DOCKER_"))}
    env |= state.environment() | {"DOCKER_HOST": host}
    argv = [sys.executable, "-m", "release", "build", "--env", "local", "--root", str(root),
            "--output", "json", "--builds", str(at_once), *services]
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT, check=False)
    seconds = time.perf_counter() - began
    with (STORE / "build-cache-release.log").open("a") as log:
        log.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"release build failed ({done.returncode}):\n{done.stderr[-3000:]}")
    images = json.loads(done.stdout)["data"]["images"]
    if any(i["status"] != "built" for i in images):
        raise SystemExit(f"release build did not build every image: {images}")
    builds = tuple(Build(i["service"], float(i["build"]["seconds"]),
                         tuple(f"step {n + 1}" for n in range(int(i["build"]["steps"]))),
                         tuple(f"step {n + 1}" for n in range(int(i["build"]["cached"]))),
                         release=True) for i in images)
    for b in builds:
        print(f"  {b.service}: built in {b.seconds:.1f} s, {b.hits} steps cached", flush=True)
    print(f"  release build --builds {at_once}: {seconds:.1f} s in all", flush=True)
    return ReleaseBuild(seconds, builds, at_once)


@dataclass(frozen=True)
class Measured:
    """Everything one run measured."""

    rootfs: RootFs
    one_at_a_time: ReleaseBuild
    concurrent: ReleaseBuild
    dependency_layer: str  # the size of the changed service's pip layer
    cached: ReleaseBuild
    uncached: ReleaseBuild
    plain: Build
    warm_plain: Build


def measure(tmp: Path) -> Measured:
    """The whole run: a local cloud of our own, fresh engines, builds, pushes."""
    rootfs = ensure_rootfs(cache_dir())
    print(f"base rootfs: {rootfs.path} ({rootfs.path.stat().st_size / 2**20:.0f} MiB, "
          f"debootstrap {'took' if rootfs.made_now else 'took on its first run'} "
          f"{rootfs.debootstrap_s:.0f} s)", flush=True)
    config = tmp / "docker-config"
    config.mkdir()
    STORE.mkdir(parents=True, exist_ok=True)
    (STORE / "build-cache-release.log").write_text("")
    at_once = min(len(SERVICES), os.cpu_count() or 1)
    base = free_ports()
    with fresh_engine(tmp / "e1", rootfs.path, config) as first:
        options = cloud.Options(repo_root=ROOT, state_dir=tmp / "cloud", moto_port=base,
                                registry_port=base + 1, oidc_port=base + 2,
                                docker_host=first, install=False)
        print("starting a local cloud of our own ...", flush=True)
        state = cloud.up(options, cloud.Deps(say=lambda _line: None)).state
        try:
            root = sandbox.make(ROOT, tmp / "repo", aws_endpoint=state.aws_endpoint_url,
                                registry_host=state.registry_host)
            add_services(root)
            sandbox.reset_and_seed(root, state.aws_endpoint_url)
            docker(first, "login", "-u", "AWS", "--password-stdin", state.registry_host,
                   config=config, stdin=state.registry_password)

            def names(group: str, only: Sequence[str] = SERVICES) -> list[str]:
                return [service_name(s, group) for s in only]

            print("\n1. every image, cold, one at a time (`release build --builds 1`):",
                  flush=True)
            one_at_a_time = release_build(root, state, first, names(SEQ), 1)
            print(f"\n2. every image, cold, `release build --builds {at_once}`:", flush=True)
            with fresh_engine(tmp / "e2", rootfs.path, config) as second:
                concurrent = release_build(root, state, second, names(PAR), at_once)
            previous = f"{state.registry_host}/bench-{SEQ}/{CHANGED}"
            docker(first, "pull", "-q", f"{previous}:buildcache", config=config)
            dependency_layer = layer_sizes(first, f"{previous}:buildcache", config)[2]
            for group in (SEQ, PAR):
                change_one_line(root / "bench-services" / group / CHANGED)
            # Ours without the registry cache: the concurrent set's api, its cache turned off.
            spec = yaml.safe_load((root / "release.yaml").read_text())
            spec["services"][service_name(CHANGED, PAR)]["cache"] = {"registry": False}
            (root / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
            sandbox.git(root, "commit", "-qam", f"{CHANGED}: a one-line change")
            print(f"\n3. {CHANGED} after a one-line change ({CHANGED_FILE}), built and pushed:",
                  flush=True)
            with fresh_engine(tmp / "e3", rootfs.path, config) as third:
                cached = release_build(root, state, third, names(SEQ, [CHANGED]), 1)
            with fresh_engine(tmp / "e4", rootfs.path, config) as fourth:
                uncached = release_build(root, state, fourth, names(PAR, [CHANGED]), 1)
            context = root / "bench-services" / SEQ / CHANGED
            plain_tag = f"{state.registry_host}/bench-plain/{CHANGED}"
            with fresh_engine(tmp / "e5", rootfs.path, config) as fifth:
                plain = build(fifth, BuildSpec(CHANGED, context, f"{plain_tag}:v2"), config,
                              push=True)
            warm_plain = build(first, BuildSpec(CHANGED, context, f"{plain_tag}:warm"), config,
                               push=True)
        finally:
            cloud.down(options.state_dir, cloud.Deps(say=lambda _line: None))
    return Measured(rootfs, one_at_a_time, concurrent, dependency_layer, cached, uncached,
                    plain, warm_plain)


def pct(part: float, whole: float) -> str:
    """``12%``."""
    return f"{100 * part / whole:.0f}%"


def met(m: Measured) -> bool:
    """The target: the cached rebuild (the build job) at most 25 % of the uncached one."""
    return m.cached.seconds <= TARGET * m.uncached.seconds


def headlines(m: Measured) -> list[Headline]:
    """The summary table's rows."""
    one, many = m.one_at_a_time.seconds, m.concurrent.seconds
    c, u = m.cached, m.uncached
    return [
        Headline("rebuild after a one-line change on a fresh engine (`release build`: build "
                 "and push): registry cache / none", f"{pct(c.seconds, u.seconds)} "
                 f"({c.seconds:.1f} s / {u.seconds:.1f} s)", f"at most {TARGET:.0%}", met(m)),
        Headline("the same rebuild with plain `docker build` + `docker push` (fresh engine) "
                 "/ ours", f"{m.plain.job_s / c.seconds:.1f}x ({m.plain.job_s:.1f} s / "
                 f"{c.seconds:.1f} s)"),
        Headline(f"{len(SERVICES)} example images, cold: `release build --builds "
                 f"{m.concurrent.at_once}` / `--builds 1`",
                 f"{pct(many, one)} ({many:.1f} s / {one:.1f} s)"),
    ]


def section(m: Measured, seconds: float) -> str:
    """Item 7's part of RESULTS.md."""
    c, u = m.cached, m.uncached
    share = pct(c.seconds, u.seconds)
    one, many = m.one_at_a_time, m.concurrent
    verdict = "target met" if met(m) else "**target missed**"
    rows = "\n".join([
        *(f"| {label} | `{command}` | {b.images[0].seconds:.1f} s | {b.seconds:.1f} s | "
          f"{b.images[0].hits} | {pct(b.seconds, u.seconds)} |"
          for label, command, b in (
              ("ours, registry cache (the default)", "release build --env local bench-api", c),
              ("ours, no registry cache (`cache: {registry: false}`)",
               "release build --env local bench-api-par", u))),
        *(f"| {label} | `docker build -t <tag> <context> && docker push <tag>` | "
          f"{b.seconds:.1f} s + {b.push_s:.1f} s | {b.job_s:.1f} s | {b.hits} | "
          f"{pct(b.job_s, u.seconds)} |"
          for label, b in (
              ("plain `docker build` (README checklists)", m.plain),
              ("plain `docker build` on the engine that built v1 (a long-lived machine)",
               m.warm_plain)))])
    per_image = "\n".join(
        f"| {a.service} | {a.seconds:.1f} s | {b.seconds:.1f} s |"
        for a, b in zip(one.images, many.images, strict=True))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    size = f"{m.rootfs.path.stat().st_size / 2**20:.0f} MiB"
    return f"""## 7. Builds on a fresh runner (issue 14): a one-line change rebuilt with the \
registry cache in {share} of the time without, {verdict}; concurrent builds \
{pct(many.seconds, one.seconds)} of one at a time

Reproduce: `python bench/build_cache.py` (run by `python bench/suite.py`; it took
{seconds / 60:.1f} minutes). Measured {when} on {os.cpu_count()} cores (shared with other
work), one run: `release build` (its BuildKit path: the engine's embedded BuildKit through
Debian's docker.io 20.10 client, `DOCKER_BUILDKIT=1 /usr/bin/docker build --network host`)
against a local cloud of the benchmark's own (moto, registry, OIDC issuer on 127.0.0.1), each
run a whole process with a CI job's environment. The example is bench/build_example/:
{len(SERVICES)} services on `{BASE_IMAGE}` (Debian {SUITE} minbase with python3, pip and
the machine's CA certificates, {size}: a `docker import` of a debootstrap root filesystem;
debootstrap took {m.rootfs.debootstrap_s:.0f} s once, then its tarball is reused from
~/.cache/release-bench/), each with a dependency layer (`pip install -r requirements.txt` of
pinned PyPI packages through a cache mount) and its application copied last. Every build
runs on a FRESH engine (a dockerd of its own with a new data root, as a new runner has; the
base image imported first, not timed) unless said otherwise.

**Rebuild after a one-line change** to `{CHANGED}/{CHANGED_FILE}`, after the previous build
key's image and `:buildcache` were pushed (with their inline cache) by the first
`release build`. Target: the cached rebuild takes at most 25% of the uncached one; the build
job (`release build`, a whole process: config, login, lookup, build, push) took {share}
({verdict}).

| rebuild of {CHANGED} (fresh engine unless said) | command | build + push | the job's wall \
time | steps cached | / no registry cache |
|---|---|---|---|---|---|
{rows}

With the registry cache, BuildKit reads the previous image's inline cache, finds the
dependency layer's key and pulls that layer ({m.dependency_layer} unpacked) instead of
running pip; only the application COPY runs, and the push sends only that new layer. On this
engine (BuildKit inside dockerd 20.10) the image must land in the engine's image store, so
the cached build still downloads and unpacks the whole dependency layer (a buildx builder
that pushes straight to the registry may leave cached layers there unread; there is no buildx
here to measure it). Without the cache, pip downloads and installs every package again (PyPI
is fast from here: on a slower link, or with compiled packages or apt steps, the uncached
build grows and the cached one does not), and the new dependency layer, whose bytes differ
from build to build, is pushed again. Plain `docker build` on a fresh runner has no cache to
find; on the machine that built v1 its local cache does the job of our registry cache, but a
fresh runner never has that.

**All {len(SERVICES)} example images, cold**, each set on a fresh engine and in
repositories of its own: `release build --builds 1` vs `--builds {many.at_once}` (one per CPU,
the default): {many.seconds:.1f} s vs {one.seconds:.1f} s, {pct(many.seconds, one.seconds)}
(whole processes: builds and pushes). Cold builds download wheels (network) and unpack and
byte-compile them (CPU): on 2 cores, two at once overlap one's downloads and pushes with the
other's CPU work, but cannot go below the CPU work.

| image | build + push, `--builds 1` | with `--builds {many.at_once}` (each image's own \
time) |
|---|---|---|
{per_image}
"""


def figures(m: Measured) -> dict[str, object]:
    """The raw numbers for bench/.results/item-7.json."""
    def one(b: Build) -> dict[str, object]:
        return {"service": b.service, "seconds": round(b.seconds, 2),
                "push_s": round(b.push_s, 2), "steps": len(b.steps), "cached": len(b.cached)}

    def job(r: ReleaseBuild) -> dict[str, object]:
        return {"seconds": round(r.seconds, 2), "builds": r.at_once,
                "images": [one(b) for b in r.images]}

    return {"debootstrap_s": round(m.rootfs.debootstrap_s, 1),
            "rootfs_made_now": m.rootfs.made_now,
            "one_at_a_time": job(m.one_at_a_time), "concurrent": job(m.concurrent),
            "dependency_layer": m.dependency_layer,
            "rebuild_cached": job(m.cached), "rebuild_uncached": job(m.uncached),
            "rebuild_plain": one(m.plain), "rebuild_plain_warm_engine": one(m.warm_plain),
            "cached_over_uncached_job": round(m.cached.seconds / m.uncached.seconds, 4)}


def main() -> None:
    """Measure, then write the section and the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true",
                        help="print the section; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    stop_on_sigterm()
    if not Path(DOCKER).is_file():
        raise SystemExit(f"{DOCKER} not found: apt-get install -y docker.io (its client has "
                         "BuildKit built in)")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="release-bench-build-", dir="/tmp",
                                     ignore_cleanup_errors=True) as tmp:
        measured = measure(Path(tmp))
    seconds = time.perf_counter() - began
    text = section(measured, seconds)
    print("\n" + text)
    if not args.no_write:
        replace_section(ITEM, text)
        record(ITEM, figures(measured), headlines(measured))
        print("bench/RESULTS.md: section 7 rewritten")


if __name__ == "__main__":
    main()
