"""bench/build_cache.py's pure parts: the build command lines, the cache hits read from
BuildKit's log, the one-line change and the cached base filesystem.

The item's figures rest on these: a cached step not counted, or a cache flag on the arm that
must have none, would make bench/RESULTS.md's item 7 compare the wrong things.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import build_cache  # noqa: E402
from build_cache import BuildSpec  # noqa: E402

CACHED_LOG = """\
#3 [internal] load metadata for docker.io/release-base/python:3
#3 DONE 0.0s

#4 [stage-0 1/5] FROM docker.io/release-base/python:3
#4 DONE 0.0s

#10 importing cache manifest from 127.0.0.1:33079/bench/api:v1
#10 DONE 0.0s

#5 [stage-0 2/5] WORKDIR /srv
#5 CACHED

#7 [stage-0 3/5] COPY requirements.txt .
#7 CACHED

#8 [stage-0 4/5] RUN --mount=type=cache,target=/root/.cache/pip     pip install -r requirements.txt
#8 pulling sha256:95b5cf21c77fe75be30d3e260fa4d81617ae2f99d6b10b7cdb887bfe43ccda10 0.5s done
#8 CACHED

#9 [stage-0 5/5] COPY app/ ./app/
#9 DONE 0.0s

#12 exporting to image
#12 DONE 0.0s
"""


def test_the_cached_steps_are_read_from_buildkits_plain_log() -> None:
    steps, cached = build_cache.parse_steps(CACHED_LOG)
    assert steps == ("[2/5] WORKDIR /srv", "[3/5] COPY requirements.txt .",
                     "[4/5] RUN --mount=type=cache,target=/root/.cache/pip     "
                     "pip install -r requirements.txt", "[5/5] COPY app/ ./app/")
    assert cached == steps[:3]
    cold = CACHED_LOG.replace("CACHED", "DONE 9.0s")
    assert build_cache.parse_steps(cold) == (steps, ())


def test_each_arm_passes_only_its_own_cache_flags(tmp_path: Path) -> None:
    ours = build_cache.build_argv(BuildSpec("api", tmp_path, "r/api:v2",
                                            cache_from="r/api:v1"))
    assert ours == ["build", "--network", "host", "--progress", "plain", "-t", "r/api:v2",
                    "--build-arg", "BUILDKIT_INLINE_CACHE=1", "--cache-from", "r/api:v1",
                    str(tmp_path)]
    uncached = build_cache.build_argv(BuildSpec("api", tmp_path, "r/api:v2"))
    assert "--cache-from" not in uncached
    assert "BUILDKIT_INLINE_CACHE=1" in uncached
    plain = build_cache.build_argv(BuildSpec("api", tmp_path, "r/api:v2", inline_cache=False))
    assert plain == ["build", "--network", "host", "--progress", "plain", "-t", "r/api:v2",
                     str(tmp_path)]


def test_the_change_is_one_line_of_the_application_only(tmp_path: Path) -> None:
    context = tmp_path / "api"
    shutil.copytree(build_cache.EXAMPLE / "api", context)
    before = {p.relative_to(context): p.read_text() for p in context.rglob("*") if p.is_file()}
    build_cache.change_one_line(context)
    after = {p.relative_to(context): p.read_text() for p in context.rglob("*") if p.is_file()}
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [Path(build_cache.CHANGED_FILE)]
    old, new = before[changed[0]].splitlines(), after[changed[0]].splitlines()
    assert len(old) == len(new)
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
    (context / build_cache.CHANGED_FILE).write_text("print('no such line')\n")
    with pytest.raises(SystemExit, match="no GREETING line"):
        build_cache.change_one_line(context)


def test_every_example_installs_its_dependencies_before_copying_the_application() -> None:
    for service in build_cache.SERVICES:
        lines = (build_cache.EXAMPLE / service / "Dockerfile").read_text().splitlines()
        steps = [line.split()[0] for line in lines if line and not line[0].isspace()
                 and not line.startswith("#")]
        assert steps == ["ARG", "FROM", "WORKDIR", "COPY", "RUN", "COPY", "CMD"], service
        assert lines[-2] == "COPY app/ ./app/"
        assert (build_cache.EXAMPLE / service / "requirements.txt").read_text().count("==") >= 3


def test_a_kept_root_filesystem_is_not_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cas = tmp_path / "cas"
    cas.mkdir()
    (cas / "egress.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(build_cache, "EXTRA_CAS", cas)
    monkeypatch.setattr(build_cache.shutil, "which", lambda _name: None)
    with pytest.raises(SystemExit, match="apt-get install -y debootstrap"):
        build_cache.ensure_rootfs(tmp_path / "cache")
    # The name carries the CAs' hash: made for these CAs, it is found without debootstrap.
    digest = hashlib.sha256((cas / "egress.crt").read_bytes()).hexdigest()[:12]
    tarball = tmp_path / "cache" / f"debian-bookworm-python3-{digest}.tar"
    tarball.parent.mkdir()
    tarball.write_bytes(b"tar")
    tarball.with_suffix(".json").write_text(json.dumps({"debootstrap_s": 41.5}))
    found = build_cache.ensure_rootfs(tmp_path / "cache")
    assert found == build_cache.RootFs(tarball, 41.5, made_now=False)
    (cas / "egress.crt").write_text("another CA\n")
    with pytest.raises(SystemExit, match="debootstrap not found"):
        build_cache.ensure_rootfs(tmp_path / "cache")
