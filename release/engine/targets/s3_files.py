"""Files published to S3: each file under a configured source (inside the repository,
regular, walked with a bound) uploaded when its SHA-256 differs from the object's."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Final

from release import repo_files
from release.adapters.aws import s3
from release.config.model import ServiceDeployment
from release.config.source import SourceError, dotted, read_source
from release.engine.context import Context
from release.engine.targets.base import ComparedByContent, Decision, Done, Observed, Wanted
from release.errors import EXIT_CONFIG, Problem, StepError
from release.planning import diff, plan, taskdef


class S3SourceError(StepError):
    """An S3 source that must not be published (outside the repository, not a regular
    file): the config is wrong, so exit code 2; ``problem`` locates it in release.yaml."""

    exit_code = EXIT_CONFIG

    def __init__(self, service: str, problem: Problem) -> None:
        super().__init__(service, "s3_files", problem.render(), problem.hint)
        self.problem = problem


class S3Files(ComparedByContent):
    """The ``s3_files`` target kind."""

    name: Final = "s3_files"

    def present(self, dep: ServiceDeployment) -> bool:
        """True for a service publishing files to S3."""
        return dep.s3 is not None

    def observe(self, ctx: Context, dep: ServiceDeployment) -> dict[str, str | None]:
        """S3 key -> the SHA-256 recorded on the object (None: absent), for every local file."""
        assert dep.s3 is not None  # noqa: S101 - the engine asks present() first
        client = ctx.client("s3")
        return {key: s3.remote_sha256(client, dep.s3.bucket, key)
                for key in local_files(ctx, dep)}

    def decide(self, ctx: Context, dep: ServiceDeployment, seen: Observed,
               want: Wanted) -> Decision:
        """Upload when some file's checksum differs."""
        remote = seen[self.name]
        local = _checksums(ctx, dep)
        return Decision(plan.files_step(dep.name, local, remote), remote, local)

    def apply(self, ctx: Context, dep: ServiceDeployment, decision: Decision, seen: Observed,
              want: Wanted) -> Done:
        """Upload the changed files (each opened again and streamed; the checksum is of the
        bytes sent)."""
        if decision.step.action == "none":
            return Done()
        assert dep.s3 is not None  # noqa: S101
        client = ctx.client("s3")
        remote = seen[self.name]
        sent = 0
        for key, path in local_files(ctx, dep).items():
            try:
                sent += s3.publish(client, dep.s3.bucket, key, path, remote.get(key))
            except repo_files.PathRefused as exc:
                raise _problem(ctx, dep, None, exc.message, exc.hint) from None
        return Done(updated=True, detail=f"{sent} files uploaded")

    def differences(self, decision: Decision, hidden: Collection[str]) -> list[diff.Difference]:
        """Each file whose checksum differs, by key."""
        return diff.files(decision.desired, decision.current, hidden=hidden)


def local_files(ctx: Context, dep: ServiceDeployment) -> dict[str, Path]:
    """S3 key -> local file (resolved: regular, inside the repository), for every file the
    service publishes; an ``S3SourceError`` naming the s3_files entry for anything else."""
    if dep.s3 is None:
        return {}
    values = {"env": ctx.env.name, "service": dep.name}
    out: dict[str, Path] = {}
    for index, item in enumerate(dep.s3.files):
        key = taskdef.substitute(item.key, values)
        prefix = key if key.endswith("/") else key + "/"
        try:
            for rel, path in repo_files.files_under(ctx.config.root, item.source):
                out[prefix + rel if rel else key] = path
        except repo_files.PathRefused as exc:
            raise _problem(ctx, dep, index, exc.message, exc.hint) from None
        except FileNotFoundError:
            raise _problem(ctx, dep, index, f"'{item.source}' does not exist",
                           "commit it, or remove the entry") from None
    return out


def _problem(ctx: Context, dep: ServiceDeployment, index: int | None, message: str,
             hint: str) -> S3SourceError:
    """A refused S3 source, at its line of release.yaml when found. A deploy reports it as
    this service's failure, with the other services carrying on."""
    at: tuple[str | int, ...] = ("services", dep.service.name, "s3_files")
    if index is not None:
        at = (*at, index, "source")
    try:  # only on this error path: a valid release.yaml is not parsed again
        line = read_source(ctx.config.root, ctx.config.release_path).line(at)
    except (SourceError, OSError):
        line = None
    return S3SourceError(dep.name, Problem(ctx.config.release_path, line, dotted(at),
                                           message, hint))


def _checksums(ctx: Context, dep: ServiceDeployment) -> dict[str, str]:
    """S3 key -> SHA-256 of the local file."""
    try:
        return {key: s3.sha256_of(path) for key, path in local_files(ctx, dep).items()}
    except repo_files.PathRefused as exc:  # changed since the walk: refused when opened
        raise _problem(ctx, dep, None, exc.message, exc.hint) from None


KIND = S3Files()
