"""Build and push images with BuildKit through the docker CLI.

The builder is found once per run (:func:`detect`): ``docker buildx`` where a docker CLI
has the plugin, else a docker CLI that still has BuildKit built in (client < 23). Every
command runs as a subprocess with a time bound, its output streamed line by line into the
release's log. Registry passwords go to ``docker login --password-stdin`` in a private
``DOCKER_CONFIG`` made for the run and removed afterwards; build secrets go as ``--secret``
(their values in the build's environment or a 0600 file, never in argv or a build arg).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from release.adapters.build_output import BuildLog, redactor, secret_values
from release.adapters.docker_cli import (
    FALLBACK_DOCKER,
    INSTALL_HINT,
    SHORT_TIMEOUT,
    Runner,
    candidates,
    detect,
    inspect,
    output,
    run_streaming,
)
from release.adapters.docker_engine import unix_socket_refuses
from release.adapters.registry import Login
from release.errors import ReleaseError
from release.planning import build_command as bc
from release.planning.build_command import Builder, BuildSpec

# The CLI runner and builder detection live in docker_cli, the build log in build_output;
# the commands reach them here.
__all__ = ["BUILD_TIMEOUT", "ENGINE_HINT", "FALLBACK_DOCKER", "INSTALL_HINT", "LOG_TAIL",
           "PUSH_TIMEOUT", "SHORT_TIMEOUT", "BuildFailedError", "BuildLog", "BuildReport",
           "Runner", "Session", "candidates", "detect", "inspect", "run_streaming",
           "secret_values", "session"]

BUILD_TIMEOUT = 1800
PUSH_TIMEOUT = 900
LOG_TAIL = 15
ENGINE_HINT = "start Docker (for the local cloud: `release local up`), or set DOCKER_HOST"


class BuildFailedError(ReleaseError):
    """The build failed; carries the last lines of its output."""


@dataclass(frozen=True)
class BuildReport:
    """What one image's build did."""

    builder: str  # buildx | embedded
    platforms: tuple[str, ...]
    seconds: float
    steps: int
    cached: int
    digest: str
    tags: tuple[str, ...]
    size: int | None = None  # bytes, when the image landed in the engine
    unreadable_caches: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for people."""
        size = f", {self.size / 1e6:.1f} MB" if self.size is not None else ""
        return (f"{self.builder} {','.join(self.platforms) or 'default platform'} "
                f"{self.seconds:.1f}s, {self.cached}/{self.steps} steps cached{size}")


@dataclass
class Session:
    """Builds and pushes for one run: one builder, one private DOCKER_CONFIG."""

    builder: Builder
    log: BuildLog
    environ: Mapping[str, str] = field(default_factory=dict)
    runner: Runner = run_streaming
    clock: Callable[[], float] = time.monotonic
    config: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="release-docker-")))
    _logged_in: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: set[str] = field(default_factory=set)
    _builders: dict[str, Builder] = field(default_factory=dict)

    @classmethod
    def open(cls, environ: Mapping[str, str], log: BuildLog,
             runner: Runner = run_streaming) -> Session:
        """Check the engine answers, find the builder (said in the log), make the config."""
        host = environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        refused = unix_socket_refuses(host)
        if refused:
            raise ReleaseError(f"Docker engine not reachable at {host}: {refused}", ENGINE_HINT)
        builder = detect(environ, runner)
        log.log(f"builder: {builder.describe()}")
        session = cls(builder, log, dict(environ), runner)
        session._share_plugins(environ)
        return session

    def close(self) -> None:
        """Remove the private DOCKER_CONFIG (and the logins in it)."""
        shutil.rmtree(self.config, ignore_errors=True)

    def _share_plugins(self, environ: Mapping[str, str]) -> None:
        """Plugins, buildx builders and contexts of the usual config stay visible."""
        home = environ.get("HOME")
        usual = Path(environ.get("DOCKER_CONFIG") or (Path(home) / ".docker" if home else ""))
        for name in ("cli-plugins", "buildx", "contexts"):
            if usual.parts and (usual / name).is_dir():
                (self.config / name).symlink_to(usual / name)
        settings: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError, AttributeError):
            current = json.loads((usual / "config.json").read_text()).get("currentContext")
            if isinstance(current, str):
                settings["currentContext"] = current
        fd = os.open(self.config / "config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(settings, handle)

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.environ, "DOCKER_CONFIG": str(self.config), **(extra or {})}

    def builder_for(self, name: str | None) -> Builder:
        """The run's builder, or the buildx builder ``name`` (inspected once; the embedded
        builder has no names: itself)."""
        if not name or self.builder.kind == "embedded" or name == self.builder.name:
            return self.builder
        with self._lock:
            if name not in self._builders:
                self._builders[name] = inspect(replace(self.builder, name=name), self._env(),
                                               self.runner)
            return self._builders[name]

    def login(self, login: Login) -> None:
        """``docker login`` once per registry, the password on stdin only (none: anonymous)."""
        if not login.username:
            return
        with self._lock:
            lock = self._logged_in.setdefault(login.host, threading.Lock())
        with lock:
            if login.host in self._done:
                return
            lines: list[str] = []
            code = self.runner([self.builder.docker, "login", "--username", login.username,
                                "--password-stdin", login.host], env=self._env(),
                               on_line=lines.append, stdin=login.password, timeout=SHORT_TIMEOUT)
            shown = redactor([login.password])(" ".join(lines[-3:]))
            if code != 0:
                raise ReleaseError(f"docker login to {login.host} failed: {shown}",
                                   "check the registry credentials (for ECR: the role needs "
                                   "ecr:GetAuthorizationToken)")
            self._done.add(login.host)

    def build(self, name: str, spec: BuildSpec, secrets: Mapping[str, str] | None = None, *,
              hidden: Sequence[str] = (), builder: Builder | None = None) -> BuildReport:
        """Build and push ``spec``; ``secrets`` is environment its ``--secret env=`` entries
        may read. Output goes to the log with each secret value (``secrets``' and
        ``hidden``) replaced by ``***``."""
        builder = builder or self.builder
        began = self.clock()
        redact = redactor([*(secrets or {}).values(), *hidden])
        env = self._env({**bc.build_env(builder), **(secrets or {})})
        with tempfile.TemporaryDirectory(prefix="release-build-") as work:
            if bc.pushes_itself(builder):
                spec = replace(spec, metadata_file=str(Path(work) / "metadata.json"))
            argv = bc.build_argv(spec, builder)
            self.log.start(name, f"building {spec.image}:{spec.tag} with {builder.kind}")
            try:
                lines = self._build(name, argv, spec.dockerfile, env, redact)
                found = bc.progress(lines)
                for unread in found.unreadable_caches:
                    self.log.line(name, f"note: a cache could not be read, built without it: "
                                        f"{unread}")
                digest = self._digest(name, spec, builder)
                size = self._size(spec) if builder.in_engine else None
            finally:
                self.log.end(name)
        return BuildReport(builder.kind, spec.platforms, self.clock() - began, found.steps,
                           found.cached, digest, spec.refs, size, found.unreadable_caches)

    def _build(self, name: str, argv: list[str], dockerfile: str, env: Mapping[str, str],
               redact: Callable[[str], str]) -> list[str]:
        lines: list[str] = []
        tail: deque[str] = deque(maxlen=LOG_TAIL)

        def on_line(text: str) -> None:
            shown = redact(text)
            lines.append(text)
            tail.append(shown)
            self.log.line(name, shown)

        code = self.runner(argv, env=env, on_line=on_line, timeout=BUILD_TIMEOUT)
        if code != 0:
            shown = "\n".join(f"    {line}" for line in tail)
            raise BuildFailedError(
                f"docker build failed (exit {code})\n  last build output:\n{shown}",
                f"fix the Dockerfile ({dockerfile}) and run the release again")
        return lines

    def _digest(self, name: str, spec: BuildSpec, builder: Builder) -> str:
        if bc.pushes_itself(builder):
            return _metadata_digest(spec)
        digest = None
        for ref in bc.extra_push_refs(spec, builder):
            lines: list[str] = []

            def on_line(text: str, lines: list[str] = lines) -> None:
                lines.append(text)
                self.log.line(name, text)

            code = self.runner([builder.docker, "push", ref], env=self._env(), on_line=on_line,
                               timeout=PUSH_TIMEOUT)
            if code != 0:
                last = lines[-1] if lines else f"exit {code}"
                raise ReleaseError(f"push of {ref} failed: {last}",
                                   "check the registry is up and the login is valid; "
                                   "rerunning the release resumes from here")
            if ref == spec.refs[0]:
                digest = bc.pushed_digest(lines)
        if digest is None:
            raise ReleaseError(f"push of {spec.refs[0]} reported no digest")
        return digest

    def _size(self, spec: BuildSpec) -> int | None:
        code, text = output(self.runner, [self.builder.docker, "image", "inspect", "--format",
                                          "{{.Size}}", spec.refs[0]], self._env())
        return int(text.strip()) if code == 0 and text.strip().isdigit() else None


def _metadata_digest(spec: BuildSpec) -> str:
    try:
        data = json.loads(Path(spec.metadata_file or "").read_text())
        digest = data["containerimage.digest"]
    except (OSError, ValueError, KeyError, TypeError):
        digest = None
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise ReleaseError(f"buildx pushed {spec.refs[0]} but wrote no digest to its metadata "
                           "file", "update docker buildx (0.9 or newer writes it)")
    return digest


@contextlib.contextmanager
def session(environ: Mapping[str, str], log: BuildLog,
            runner: Runner = run_streaming) -> Iterator[Session]:
    """A :class:`Session` removed afterwards."""
    opened = Session.open(environ, log, runner)
    try:
        yield opened
    finally:
        opened.close()
