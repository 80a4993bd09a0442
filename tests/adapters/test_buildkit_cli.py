"""The BuildKit session's subprocess layer: builder detection with fake docker CLIs on a
temporary PATH (real processes), the login's password on stdin only, time bounds, the
private DOCKER_CONFIG, secret values kept out of the log, and per-image log groups."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fake_docker import BUILDER, DockerCli, RegistryStub

from release.adapters import build_output, docker_cli
from release.adapters.build_output import BuildLog
from release.adapters.buildkit import Session
from release.adapters.registry import Login
from release.errors import ReleaseError
from release.planning.build_command import BuildSpec

MODERN = "Docker version 28.2.2, build e6534b4"
OLD = "Docker version 20.10.24+dfsg1, build 297e128"


def _cli(where: Path, version: str, *, buildx: bool = False,
         driver: str = "docker-container") -> Path:
    """A docker CLI script: answers --version, buildx version/inspect; records its argv."""
    where.mkdir(parents=True, exist_ok=True)
    script = where / "docker"
    script.write_text(f"""#!/bin/sh
PATH=/usr/bin:/bin
echo "$@" >> "{where}/calls"
case "$1" in
  --version) echo "{version}" ;;
  buildx)
    {"" if buildx else 'echo "docker: unknown command: docker buildx" >&2; exit 1'}
    case "$2" in
      version) echo "github.com/docker/buildx v0.23.0" ;;
      inspect) [ "$3" = missing ] && {{ echo "ERROR: no builder \\"missing\\" found" >&2; exit 1; }}
               printf 'Name: %s\\nDriver: {driver}\\n' "${{3:-default}}" ;;
    esac ;;
  login) cat > "{where}/stdin"; echo "Login Succeeded" ;;
  *) exit 1 ;;
esac
""")
    script.chmod(0o755)
    return script


def _env(*dirs: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.pathsep.join(str(d) for d in dirs), **extra}


def test_buildx_is_chosen_where_a_cli_has_it(tmp_path: Path) -> None:
    _cli(tmp_path / "new", MODERN)
    buildx = _cli(tmp_path / "plugin", MODERN, buildx=True)
    found = docker_cli.detect(_env(tmp_path / "new", tmp_path / "plugin"),
                            fallback=str(tmp_path / "none"))
    assert (found.kind, found.docker, found.driver, found.name) == (
        "buildx", str(buildx), "docker-container", None)
    assert "docker buildx" in found.describe()


def test_buildx_builder_env_is_honoured_and_a_missing_one_is_named(tmp_path: Path) -> None:
    _cli(tmp_path / "plugin", MODERN, buildx=True, driver="remote")
    found = docker_cli.detect(_env(tmp_path / "plugin", BUILDX_BUILDER="shared"),
                            fallback=str(tmp_path / "none"))
    assert (found.name, found.driver) == ("shared", "remote")
    assert "buildx inspect shared" in (tmp_path / "plugin" / "calls").read_text()
    with pytest.raises(ReleaseError) as caught:
        docker_cli.detect(_env(tmp_path / "plugin", BUILDX_BUILDER="missing"),
                        fallback=str(tmp_path / "none"))
    assert "buildx builder missing is not usable" in caught.value.message
    assert "docker buildx create" in (caught.value.hint or "")


def test_an_old_client_later_on_path_builds_with_the_engines_buildkit(tmp_path: Path) -> None:
    _cli(tmp_path / "new", MODERN)  # first on PATH: no buildx, refuses DOCKER_BUILDKIT=1
    old = _cli(tmp_path / "old", OLD)
    found = docker_cli.detect(_env(tmp_path / "new", tmp_path / "old"),
                            fallback=str(tmp_path / "none"))
    assert (found.kind, found.docker, found.version) == ("embedded", str(old), "20.10.24+dfsg1")


def test_the_fallback_cli_is_tried_after_path(tmp_path: Path) -> None:
    _cli(tmp_path / "new", MODERN)
    old = _cli(tmp_path / "usr-bin", OLD)
    found = docker_cli.detect(_env(tmp_path / "new"), fallback=str(old))
    assert (found.kind, found.docker) == ("embedded", str(old))


def test_neither_builder_is_a_clear_error(tmp_path: Path) -> None:
    new = _cli(tmp_path / "new", MODERN)
    with pytest.raises(ReleaseError) as caught:
        docker_cli.detect(_env(tmp_path / "new"), fallback=str(tmp_path / "none"))
    assert caught.value.message == (
        f"no docker CLI here builds with BuildKit ({new}: no buildx plugin, and a client "
        "28.2 hands BuildKit builds to buildx)")
    assert "install docker buildx" in (caught.value.hint or "")
    assert "docker.io" in (caught.value.hint or "")
    with pytest.raises(ReleaseError, match="no docker on PATH"):
        docker_cli.detect(_env(tmp_path / "empty"), fallback=str(tmp_path / "none"))


def test_no_engine_is_said_before_any_builder_is_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        Session.open({"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, BuildLog(print))
    assert "Docker engine not reachable" in caught.value.message
    assert "release local up" in (caught.value.hint or "")


def test_the_password_goes_on_stdin_only_into_a_private_config(tmp_path: Path) -> None:
    docker = _cli(tmp_path / "cli", OLD)
    (tmp_path / "home" / ".docker" / "cli-plugins").mkdir(parents=True)
    log: list[str] = []
    session = Session(docker_cli.detect(_env(tmp_path / "cli"), fallback=str(docker)),
                      BuildLog(log.append), _env(tmp_path / "cli"))
    session._share_plugins({"HOME": str(tmp_path / "home")})
    try:
        assert stat.S_IMODE(session.config.stat().st_mode) == 0o700
        assert (session.config / "cli-plugins").is_symlink()
        session.login(Login("127.0.0.1:5001", "AWS", "s3cr3t-token"))
        session.login(Login("127.0.0.1:5001", "AWS", "s3cr3t-token"))  # once per registry
        session.login(Login("anonymous:5000", "", ""))  # no credentials: no login
    finally:
        session.close()
    calls = (tmp_path / "cli" / "calls").read_text()
    assert calls.count("login") == 1
    assert "login --username AWS --password-stdin 127.0.0.1:5001" in calls
    assert "s3cr3t-token" not in calls + "".join(log)
    assert (tmp_path / "cli" / "stdin").read_text() == "s3cr3t-token"
    assert not session.config.exists()


def test_a_refused_login_names_the_registry_not_the_password(tmp_path: Path) -> None:
    def refuse(argv: object, *, env: object, on_line: object, stdin: str | None = None,
               timeout: float) -> int:
        assert callable(on_line)
        on_line(f"Error response from daemon: login attempt failed for {stdin}")
        return 1

    session = Session(BUILDER, BuildLog(print), {}, refuse)
    try:
        with pytest.raises(ReleaseError) as caught:
            session.login(Login("r.example", "AWS", "s3cr3t-token"))
    finally:
        session.close()
    assert "docker login to r.example failed" in caught.value.message
    assert "s3cr3t-token" not in caught.value.message


def test_a_command_over_its_time_is_stopped(tmp_path: Path) -> None:
    lines: list[str] = []
    with pytest.raises(ReleaseError, match="longer than 1s and was stopped"):
        docker_cli.run_streaming(["sh", "-c", "echo started; sleep 30"], env=dict(os.environ),
                               on_line=lines.append, timeout=1)
    assert lines == ["started"]


def test_output_is_streamed_line_by_line_and_the_exit_code_kept() -> None:
    lines: list[str] = []
    code = docker_cli.run_streaming(["sh", "-c", "echo one; echo two >&2; exit 3"],
                                  env=dict(os.environ), on_line=lines.append, timeout=10)
    assert (code, lines) == (3, ["one", "two"])


def test_a_secret_value_printed_by_a_build_never_reaches_the_log() -> None:
    registry = RegistryStub()
    cli = DockerCli(registry)
    log: list[str] = []

    def leaky(argv: list[str], **kwargs: object) -> int:
        on_line = kwargs["on_line"]
        assert callable(on_line)
        if argv[1] == "build":
            on_line("#8 0.1 token is hunter2-value")
        return cli(argv, **kwargs)  # type: ignore[arg-type]

    session = Session(BUILDER, BuildLog(log.append), {}, leaky)  # type: ignore[arg-type]
    try:
        spec = BuildSpec(context="/c", dockerfile="/c/Dockerfile", image=f"{registry.host}/a",
                         tag="k", secrets=("id=tok,env=TOK",))
        report = session.build("a", spec, {"TOK": "hunter2-value"})
    finally:
        session.close()
        registry.stop()
    assert "a | #8 0.1 token is ***" in log
    assert not any("hunter2" in line for line in log)
    build_call = next(call for call in cli.calls if call[1] == "build")
    assert "hunter2-value" not in " ".join(build_call)
    assert report.digest.startswith("sha256:")


def test_under_github_actions_each_image_is_one_group() -> None:
    out: list[str] = []
    groups = BuildLog(out.append, lambda name, message: out.append(f"::{name}::{message}"))
    groups.start("api", "building api")
    groups.start("web", "building web")
    groups.line("web", "web 1")  # held: api owns the open group
    groups.line("api", "api 1")
    groups.end("web")
    groups.start("job", "building job")
    groups.line("job", "job 1")
    groups.end("api")
    groups.line("job", "job 2")
    groups.end("job")
    assert out == ["::group::build api", "building api", "api 1", "::endgroup::",
                   "::group::build web", "building web", "web 1", "::endgroup::",
                   "::group::build job", "building job", "job 1", "job 2", "::endgroup::"]


def test_locally_each_line_is_prefixed_by_its_service() -> None:
    out: list[str] = []
    lines = BuildLog(out.append)
    lines.start("api", "building api")
    lines.line("api", "#5 CACHED")
    lines.end("api")
    assert out == ["api | building api", "api | #5 CACHED"]


def test_secret_values_are_found_where_the_cli_reads_them(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("line-one-secret\nshort\n")
    found = build_output.secret_values(
        ["id=a,env=TOK", f"id=b,src={tmp_path / 's'}", "id=c,env=UNSET", "id=d,env=TINY"],
        {"TOK": "env-secret-value", "TINY": "abc"})
    assert found == ["env-secret-value", "line-one-secret\nshort\n", "line-one-secret"]
