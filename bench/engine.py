"""A Docker engine of a benchmark's own: its socket, data and exec roots in a temporary
directory, so the benchmark neither uses nor disturbs a person's engine or its layer cache."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from release.local import docker_engine


@contextmanager
def private_docker(where: Path) -> Iterator[str]:
    """A dockerd of our own (socket, data and exec roots under ``where``), stopped by PID."""
    if shutil.which("dockerd") is None:
        raise SystemExit("dockerd not found (apt-get install docker.io)")
    where.mkdir(parents=True)
    host = f"unix://{where}/d.sock"
    with (where / "dockerd.log").open("w") as log:
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
