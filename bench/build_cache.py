"""Item 7: builds on a fresh runner, with the registry cache and without; concurrent builds.

    python bench/build_cache.py [--no-write]

The example (bench/build_example/): three services on a locally made Python base image,
each with a real dependency layer (pinned PyPI packages installed by pip through a BuildKit
cache mount) and its application copied last. The base image is a ``docker import`` of a
Debian bookworm minbase root filesystem with python3 and pip, made by debootstrap once and
kept as a tarball under ~/.cache/release-bench/ (or $RELEASE_BENCH_CACHE).

Every build goes through the engine's embedded BuildKit (``DOCKER_BUILDKIT=1
/usr/bin/docker build --network host``) on a FRESH engine: a dockerd of the benchmark's own
with a new data root (what a new runner has), stopped by PID; images go to a registry of
its own (Debian's docker-registry behind htpasswd, on 127.0.0.1). In one run:

1. one at a time: every example image built cold on a fresh engine, with the inline cache
   (``--build-arg BUILDKIT_INLINE_CACHE=1``), then pushed: the previous build;
2. concurrently: the same cold builds on another fresh engine, at most one per CPU at once;
3. a one-line change to the api service's application, then its rebuild and push (what a
   release's build job does) on three more fresh engines: ours with the registry cache
   (``--cache-from`` the image pushed in 1), ours without it (no cache flags but the inline
   cache), and plain ``docker build -t`` (no cache flags, as README checklists do); and
   plain ``docker build`` again on the engine of 1, whose local layer cache a long-lived
   machine would have.

Each engine gets the base image by ``docker import`` before its builds (not timed: a hub
pull on a real runner, the same for every arm). Builds and pushes are timed apart; the
target is judged on build + push. Not a test: it takes a few minutes and starts engines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from engine import private_docker  # noqa: E402
from results import Headline, record, replace_section, stop_on_sigterm  # noqa: E402

from release.local import registry  # noqa: E402

ITEM = 7
TARGET = 0.25  # the cached rebuild takes at most 25 % of the cold one
EXAMPLE = HERE / "build_example"
SERVICES = ("api", "worker", "reports")
CHANGED = "api"  # the service whose one-line change is rebuilt
CHANGED_FILE = "app/main.py"
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
    """What to build and how: the tag, the context, the cache flags."""

    service: str
    context: Path
    tag: str
    inline_cache: bool = True  # --build-arg BUILDKIT_INLINE_CACHE=1 (ours)
    cache_from: str | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)


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
    """The ``docker build`` arguments for ``spec``."""
    argv = ["build", "--network", "host", "--progress", "plain", "-t", spec.tag]
    if spec.inline_cache:
        argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    if spec.cache_from:
        argv += ["--cache-from", spec.cache_from]
    return [*argv, *spec.extra, str(spec.context)]


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def own_registry(where: Path) -> Iterator[tuple[str, str, str]]:
    """A docker-registry with htpasswd on 127.0.0.1; (address, user, password); stopped by
    PID afterwards."""
    if shutil.which("docker-registry") is None:
        raise SystemExit("docker-registry not found (bash scripts/setup.sh installs it)")
    port, user, password = free_port(), "bench", secrets.token_urlsafe(16)
    where.mkdir(parents=True)
    config_path = registry.write_config(where, "127.0.0.1", port)
    registry.write_htpasswd(where, user, password)
    with (where / "registry.log").open("w") as log:
        proc = subprocess.Popen(registry.argv(config_path), stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not _answers(f"http://127.0.0.1:{port}/v2/"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the registry did not start: see {where}/registry.log")
                time.sleep(0.2)
            yield f"127.0.0.1:{port}", user, password
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 (our own loopback registry)
    except urllib.error.HTTPError:
        return True  # 401: up, and asking for the login
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


def build_all(host: str, specs: Sequence[BuildSpec], config: Path,
              at_once: int) -> tuple[float, tuple[Build, ...]]:
    """Build ``specs`` at most ``at_once`` at a time; the wall time of all and each build."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        builds = tuple(pool.map(lambda spec: build(host, spec, config), specs))
    return time.perf_counter() - began, builds


@dataclass(frozen=True)
class Measured:
    """Everything one run measured."""

    rootfs: RootFs
    at_once: int
    one_at_a_time: tuple[float, tuple[Build, ...]]
    concurrent: tuple[float, tuple[Build, ...]]
    pushes: Mapping[str, float]
    dependency_layer: str  # the size of the changed service's pip layer
    cached: Build
    uncached: Build
    plain: Build
    warm_plain: Build


def measure(tmp: Path) -> Measured:
    """The whole run: engines, builds, pushes."""
    rootfs = ensure_rootfs(cache_dir())
    print(f"base rootfs: {rootfs.path} ({rootfs.path.stat().st_size / 2**20:.0f} MiB, "
          f"debootstrap {'took' if rootfs.made_now else 'took on its first run'} "
          f"{rootfs.debootstrap_s:.0f} s)", flush=True)
    context = tmp / "example"
    shutil.copytree(EXAMPLE, context)
    config = tmp / "docker-config"
    config.mkdir()
    at_once = min(len(SERVICES), os.cpu_count() or 1)
    with own_registry(tmp / "registry") as (address, user, password):
        def specs(version: str) -> list[BuildSpec]:
            return [BuildSpec(s, context / s, f"{address}/bench/{s}:{version}")
                    for s in SERVICES]

        def changed(tag: str, *, cache_from: str | None = None,
                    inline_cache: bool = True) -> BuildSpec:
            return BuildSpec(CHANGED, context / CHANGED, f"{address}/bench/{CHANGED}:{tag}",
                             inline_cache=inline_cache, cache_from=cache_from)

        print("\n1. every image, cold, one at a time (the previous build):", flush=True)
        with fresh_engine(tmp / "e1", rootfs.path, config) as first:
            docker(first, "login", "-u", user, "--password-stdin", address, config=config,
                   stdin=password)
            one_at_a_time = build_all(first, specs("v1"), config, 1)
            pushes = {s.service: timed_push(first, s.tag, config) for s in specs("v1")}
            print(f"  pushed in {', '.join(f'{k} {v:.1f} s' for k, v in pushes.items())}")
            # newest first: CMD, COPY app/, RUN pip install, ...
            dependency_layer = layer_sizes(first, f"{address}/bench/{CHANGED}:v1", config)[2]
            print(f"\n2. every image, cold, {at_once} at a time:", flush=True)
            with fresh_engine(tmp / "e2", rootfs.path, config) as second:
                concurrent = build_all(second, specs("v1-concurrent"), config, at_once)
            change_one_line(context / CHANGED)
            print(f"\n3. {CHANGED} after a one-line change ({CHANGED_FILE}), built and pushed:",
                  flush=True)
            previous = f"{address}/bench/{CHANGED}:v1"
            with fresh_engine(tmp / "e3", rootfs.path, config) as third:
                cached = build(third, changed("v2", cache_from=previous), config, push=True)
            with fresh_engine(tmp / "e4", rootfs.path, config) as fourth:
                uncached = build(fourth, changed("v2-nocache"), config, push=True)
            with fresh_engine(tmp / "e5", rootfs.path, config) as fifth:
                plain = build(fifth, changed("v2-plain", inline_cache=False), config, push=True)
            warm_plain = build(first, changed("v2-warm", inline_cache=False), config, push=True)
    return Measured(rootfs, at_once, one_at_a_time, concurrent, pushes, dependency_layer,
                    cached, uncached, plain, warm_plain)


def pct(part: float, whole: float) -> str:
    """``12%``."""
    return f"{100 * part / whole:.0f}%"


def met(m: Measured) -> bool:
    """The target: the cached rebuild (build and push) at most 25 % of the uncached one."""
    return m.cached.job_s <= TARGET * m.uncached.job_s


def headlines(m: Measured) -> list[Headline]:
    """The summary table's rows."""
    one, many = m.one_at_a_time[0], m.concurrent[0]
    c, u = m.cached, m.uncached
    return [
        Headline("rebuild after a one-line change on a fresh engine, build and push: "
                 "registry cache / none", f"{pct(c.job_s, u.job_s)} ({c.job_s:.1f} s / "
                 f"{u.job_s:.1f} s)", f"at most {TARGET:.0%}", met(m)),
        Headline("the same, `docker build` alone: registry cache / none",
                 f"{pct(c.seconds, u.seconds)} ({c.seconds:.1f} s / {u.seconds:.1f} s)"),
        Headline("the same rebuild with plain `docker build` + push (fresh engine) / ours",
                 f"{m.plain.job_s / c.job_s:.1f}x ({m.plain.job_s:.1f} s / {c.job_s:.1f} s)"),
        Headline(f"{len(SERVICES)} example images, cold: {m.at_once} at a time / one at a time",
                 f"{pct(many, one)} ({many:.1f} s / {one:.1f} s)"),
    ]


def section(m: Measured, seconds: float) -> str:
    """Item 7's part of RESULTS.md."""
    c, u = m.cached, m.uncached
    share = pct(c.job_s, u.job_s)
    one, many = m.one_at_a_time, m.concurrent
    verdict = "target met" if met(m) else "**target missed**"
    inline = "docker build --build-arg BUILDKIT_INLINE_CACHE=1"
    rows = "\n".join(
        f"| {label} | `{command}` | {b.seconds:.1f} s | {b.push_s:.1f} s | {b.job_s:.1f} s | "
        f"{b.hits} | {pct(b.job_s, u.job_s)} |"
        for label, command, b in (
            ("ours, registry cache", f"{inline} --cache-from <registry>/bench/api:v1", c),
            ("ours, no registry cache", inline, u),
            ("plain `docker build` (README checklists)", "docker build -t <tag>", m.plain),
            ("plain `docker build` on the engine that built v1 (a long-lived machine)",
             "docker build -t <tag>", m.warm_plain)))
    per_image = "\n".join(
        f"| {a.service} | {a.seconds:.1f} s | {b.seconds:.1f} s |"
        for a, b in zip(one[1], many[1], strict=True))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    size = f"{m.rootfs.path.stat().st_size / 2**20:.0f} MiB"
    pushes = ", ".join(f"{k} {v:.1f} s" for k, v in m.pushes.items())
    return f"""## 7. Builds on a fresh runner (issue 14): a one-line change rebuilt with the \
registry cache in {share} of the time without, {verdict}; concurrent builds \
{pct(many[0], one[0])} of one at a time

Reproduce: `python bench/build_cache.py` (run by `python bench/suite.py`; it took
{seconds / 60:.1f} minutes). Measured {when} on {os.cpu_count()} cores (shared with other
work), Docker's embedded BuildKit (`DOCKER_BUILDKIT=1 /usr/bin/docker build --network host`,
Debian's docker.io 20.10 client), one run. The example is bench/build_example/:
{len(SERVICES)} services on `{BASE_IMAGE}` (Debian {SUITE} minbase with python3, pip and
the machine's CA certificates, {size}: a `docker import` of a debootstrap root filesystem;
debootstrap took {m.rootfs.debootstrap_s:.0f} s once, then its tarball is reused from
~/.cache/release-bench/), each with a dependency layer (`pip install -r requirements.txt` of
pinned PyPI packages through a cache mount) and its application copied last. Every build
runs on a FRESH engine (a dockerd of its own with a new data root, as a new runner has; the
base image imported first, not timed) unless said otherwise; images go to a registry of the
benchmark's own on 127.0.0.1 (htpasswd).

**Rebuild after a one-line change** to `{CHANGED}/{CHANGED_FILE}`, the previous build
pushed with its inline cache, then the new image built and pushed as a release's build job
does. Target: the cached rebuild takes at most 25% of the uncached one; build and push took
{share} ({verdict}), the build alone {pct(c.seconds, u.seconds)}.

| rebuild of {CHANGED} (fresh engine unless said) | command (plus `--network host`) | build \
| push | build + push | steps cached | / no registry cache |
|---|---|---|---|---|---|---|
{rows}

With the registry cache, BuildKit reads the previous image's inline cache, finds the
dependency layer's key and pulls that layer ({m.dependency_layer} unpacked) instead of
running pip; only the application COPY runs, and the push sends only that new layer. On this
engine (BuildKit inside dockerd 20.10) the image must land in the engine's image store, so
the cached build still downloads and unpacks the whole dependency layer: that is most of
its time. Without the cache, pip downloads and installs every package again (PyPI is fast
from here: on a slower link, or with compiled packages or apt steps, the uncached build
grows and the cached one does not), and the new dependency layer, whose bytes differ from
build to build, is pushed again. Plain `docker build` on a fresh runner has no cache to find;
on the machine that built v1 its local cache does the job of our registry cache, but a fresh
runner never has that.

**All {len(SERVICES)} example images, cold**, each set on a fresh engine: one at a time vs
at most {m.at_once} at once (one per CPU, release's default) on one engine:
{many[0]:.1f} s vs {one[0]:.1f} s, {pct(many[0], one[0])}. Builds were driven by threads
calling `docker build`, since `release build --builds N` had not landed when this ran. Cold
builds download wheels (network) and unpack and byte-compile them (CPU): on 2 cores, two at
once overlap one's downloads with the other's CPU work, but cannot go below the CPU work.

| image | one at a time | {m.at_once} at a time (each build's own wall time) |
|---|---|---|
{per_image}

The previous build's pushes took {pushes}.
"""


def figures(m: Measured) -> dict[str, object]:
    """The raw numbers for bench/.results/item-7.json."""
    def one(b: Build) -> dict[str, object]:
        return {"seconds": round(b.seconds, 2), "push_s": round(b.push_s, 2),
                "steps": list(b.steps), "cached": list(b.cached)}

    return {"debootstrap_s": round(m.rootfs.debootstrap_s, 1),
            "rootfs_made_now": m.rootfs.made_now, "at_once": m.at_once,
            "one_at_a_time_s": round(m.one_at_a_time[0], 2),
            "concurrent_s": round(m.concurrent[0], 2),
            "one_at_a_time": [one(b) for b in m.one_at_a_time[1]],
            "concurrent": [one(b) for b in m.concurrent[1]],
            "pushes_s": {k: round(v, 2) for k, v in m.pushes.items()},
            "dependency_layer": m.dependency_layer,
            "rebuild_cached": one(m.cached), "rebuild_uncached": one(m.uncached),
            "rebuild_plain": one(m.plain), "rebuild_plain_warm_engine": one(m.warm_plain),
            "cached_over_uncached_job": round(m.cached.job_s / m.uncached.job_s, 4),
            "cached_over_uncached_build": round(m.cached.seconds / m.uncached.seconds, 4)}


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
