"""Build secrets at build time: the ``--secret`` arguments of a BuildKit build.

A secret reaches the builder only as a BuildKit secret (mounted into the RUN steps that
ask for it), never as a build arg, so it is in no layer and not in the image history.
``env`` and ``file`` sources are handed to the docker CLI by name and path; values read
from AWS (Secrets Manager, SSM) are written to a 0600 file in a private 0700 directory
that is removed when the build is over. Values are masked under GitHub Actions before
anything else happens and never appear in a message.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from release import repo_files
from release.adapters import github_masks
from release.config.model import BuildSecret
from release.errors import ReleaseError

if TYPE_CHECKING:
    from release.adapters.aws.clients import AwsClients

_ENV_HINT = ("set it for the release's step, e.g. env: {name}: ${{{{ secrets.{name} }}}} in "
             "the workflow, or export it locally")


@contextmanager
def secret_args(secrets: Sequence[BuildSecret], *, root: Path, environ: Mapping[str, str],
                aws_clients: AwsClients | None = None,
                temp_dir: Path | None = None) -> Iterator[list[str]]:
    """The docker CLI arguments (``--secret id=ID,env=NAME`` / ``--secret id=ID,src=PATH``)
    for ``secrets``, valid until the ``with`` block ends.

    ``environ`` is the environment the docker CLI runs with (an ``env`` source must be set
    and not empty in it). AWS sources are read with ``aws_clients`` (the release's own
    credentials) into files under ``temp_dir`` (default: ``RUNNER_TEMP``, else the system's
    temporary directory), deleted on exit. Raises ``ReleaseError`` naming the secret and its
    source (never its value) when one cannot be had.
    """
    private: Path | None = None
    try:
        args: list[str] = []
        for secret in secrets:
            if secret.env is not None:
                _masked(environ, _env_value(secret, environ))
                args += ["--secret", _spec(f"id={secret.id}", f"env={secret.env}")]
            elif secret.file is not None:
                args += ["--secret", _spec(f"id={secret.id}", f"src={_file(secret, root)}")]
            else:
                value = _aws_value(secret, aws_clients)
                _masked(environ, value.decode("utf-8", "replace"))
                if private is None:
                    private = _private_dir(temp_dir, environ)
                path = _write_private(private, len(args) // 2, value)
                args += ["--secret", _spec(f"id={secret.id}", f"src={path}")]
        yield args
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


def _spec(*fields: str) -> str:
    """One ``--secret`` value: the CLI reads it as a CSV record, so a path holding a comma
    or a quote is quoted, as the CLI expects."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def _env_value(secret: BuildSecret, environ: Mapping[str, str]) -> str:
    name = secret.env or ""
    value = environ.get(name)
    if not value:
        raise ReleaseError(
            f"build secret '{secret.id}': the environment variable {name} is "
            f"{'empty' if value == '' else 'not set'}",
            _ENV_HINT.format(name=name))
    return value


def _file(secret: BuildSecret, root: Path) -> str:
    """The resolved path of a file source: a regular file inside the repository."""
    rel = secret.file or ""
    try:
        return repo_files.Tree(root).check_kind(rel, want_dir=False)
    except FileNotFoundError:
        raise ReleaseError(f"build secret '{secret.id}': file '{rel}' does not exist",
                           "write it in an earlier step of the job (paths are relative to "
                           "the repository root)") from None
    except IsADirectoryError:
        raise ReleaseError(f"build secret '{secret.id}': '{rel}' is a directory",
                           "name the file itself") from None
    except repo_files.PathRefused as exc:
        raise ReleaseError(f"build secret '{secret.id}': {exc.message}", exc.hint) from None


def _aws_value(secret: BuildSecret, aws_clients: AwsClients | None) -> bytes:
    where = secret.aws_secret or secret.ssm or ""
    doing = f"build secret '{secret.id}': reading {where}"
    if aws_clients is None:
        raise ReleaseError(f"{doing}: the environment has no AWS account",
                           "add the aws block to the environment, or use env: or file:")
    from botocore.exceptions import BotoCoreError, ClientError

    from release.adapters.aws.clients import explain

    try:
        if secret.aws_secret is not None:
            found = aws_clients.client("secretsmanager").get_secret_value(
                SecretId=secret.aws_secret)
            text = found.get("SecretString")
            value = text.encode() if text is not None else bytes(found.get("SecretBinary", b""))
        else:
            found = aws_clients.client("ssm").get_parameter(Name=secret.ssm,
                                                            WithDecryption=True)
            value = str(found["Parameter"]["Value"]).encode()
    except (ClientError, BotoCoreError) as exc:
        raise explain(exc, doing) from None
    if not value:
        raise ReleaseError(f"{doing}: it is empty", "store the secret's value there")
    return value


def _masked(environ: Mapping[str, str], value: str) -> None:
    """Under GitHub Actions, redact ``value`` in the log before anything can print it."""
    if environ.get("GITHUB_ACTIONS") == "true":
        github_masks.mask(value)


def _private_dir(temp_dir: Path | None, environ: Mapping[str, str]) -> Path:
    parent = temp_dir or (Path(environ["RUNNER_TEMP"]) if environ.get("RUNNER_TEMP") else None)
    path = Path(tempfile.mkdtemp(prefix="release-build-secrets-", dir=parent))  # mode 0700
    path.chmod(0o700)
    return path


def _write_private(directory: Path, index: int, value: bytes) -> Path:
    """``value`` in a new 0600 file of ``directory`` (never an existing file or a link)."""
    path = directory / f"secret-{index}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return path
