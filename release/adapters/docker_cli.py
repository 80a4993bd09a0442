"""The docker CLI as a release runs it: each command a subprocess with a time bound, its
output streamed line by line; and the builder of a run (:func:`detect`): ``docker buildx``
where a docker CLI has the plugin, else a docker CLI that still has BuildKit built in
(client < 23)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from release.errors import ReleaseError
from release.planning import build_command as bc
from release.planning.build_command import Builder

SHORT_TIMEOUT = 60
FALLBACK_DOCKER = "/usr/bin/docker"  # Debian's docker.io: BuildKit built into its 20.10 CLI
INSTALL_HINT = ("install docker buildx (the docker-buildx-plugin package; on GitHub "
                "docker/setup-buildx-action), or Debian's docker.io, whose /usr/bin/docker "
                "(20.10) builds with the engine's own BuildKit")


class Runner(Protocol):
    """Runs a command, handing each output line (stdout and stderr) to ``on_line``."""

    def __call__(self, argv: Sequence[str], *, env: Mapping[str, str],
                 on_line: Callable[[str], None], stdin: str | None = None,
                 timeout: float) -> int: ...


def run_streaming(argv: Sequence[str], *, env: Mapping[str, str],
                  on_line: Callable[[str], None], stdin: str | None = None,
                  timeout: float) -> int:
    """Run ``argv``, stream its output by line; kill its process group after ``timeout``."""
    try:
        proc = subprocess.Popen(  # argv built by build_command; no shell
            list(argv), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            text=True, errors="replace", start_new_session=True)
    except OSError as exc:
        raise ReleaseError(f"cannot run {argv[0]}: {exc.strerror or exc}", INSTALL_HINT) from None
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the process we started, and its children

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        with proc:  # closes the pipes, waits for the process
            if proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(stdin or "")
                    proc.stdin.close()
            assert proc.stdout is not None  # noqa: S101 - stdout=PIPE
            for line in proc.stdout:
                on_line(line.rstrip("\r\n"))
        code = proc.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise ReleaseError(f"{' '.join(argv[:3])} took longer than {timeout:.0f}s and was "
                           "stopped", "rerun the release; a build that hangs on a RUN step "
                           "needs a look at its Dockerfile")
    return code


def output(runner: Runner, argv: Sequence[str], env: Mapping[str, str],
           timeout: float = SHORT_TIMEOUT) -> tuple[int, str]:
    """The exit code and the output of a short command (127 and why when it cannot run)."""
    lines: list[str] = []
    try:
        code = runner(argv, env=env, on_line=lines.append, timeout=timeout)
    except ReleaseError as exc:
        return 127, exc.message
    return code, "\n".join(lines)


def candidates(environ: Mapping[str, str], fallback: str = FALLBACK_DOCKER) -> list[str]:
    """Each docker CLI to try: those on PATH in order, then ``fallback`` (each file once)."""
    found: dict[str, str] = {}
    dirs = [d for d in environ.get("PATH", "").split(os.pathsep) if d]
    for path in [str(Path(d) / "docker") for d in dirs] + [fallback]:
        if Path(path).is_file() and os.access(path, os.X_OK):
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def detect(environ: Mapping[str, str], runner: Runner = run_streaming, *,
           fallback: str = FALLBACK_DOCKER) -> Builder:
    """The builder of this run: buildx where a CLI has it, else embedded BuildKit."""
    tried = candidates(environ, fallback)
    versions: dict[str, str] = {}
    for docker in tried:
        code, text = output(runner, [docker, "--version"], environ)
        versions[docker] = text.strip() if code == 0 else ""
    for docker in tried:
        if output(runner, [docker, "buildx", "version"], environ)[0] == 0:
            name = environ.get("BUILDX_BUILDER") or None
            return inspect(Builder("buildx", docker, _short(versions[docker]), name), environ,
                           runner)
    why = []
    for docker in tried:
        version = bc.client_version(versions[docker])
        if version is not None and bc.has_embedded_buildkit(version):
            return Builder("embedded", docker, _short(versions[docker]))
        why.append(f"{docker}: " + ("no buildx plugin, and a client " +
                                    f"{version[0]}.{version[1]} hands BuildKit builds to buildx"
                                    if version else "does not run"))
    raise ReleaseError("no docker CLI here builds with BuildKit"
                       + (f" ({'; '.join(why)})" if why else " (no docker on PATH)"),
                       INSTALL_HINT)


def inspect(builder: Builder, environ: Mapping[str, str], runner: Runner) -> Builder:
    """``builder`` with its buildx driver (the named builder must exist)."""
    code, text = output(runner, [builder.docker, "buildx", "inspect",
                                 *([builder.name] if builder.name else [])], environ)
    if code != 0:
        raise ReleaseError(f"buildx builder {builder.name or 'default'} is not usable: "
                           f"{text.strip().splitlines()[-1] if text.strip() else code}",
                           "create it (docker buildx create --name NAME --use), or leave "
                           "builder: and BUILDX_BUILDER unset for the default one")
    return replace(builder, driver=bc.buildx_driver(text))


def _short(version_text: str) -> str:
    version = version_text.removeprefix("Docker version ").split(",")[0]
    return version or "?"
