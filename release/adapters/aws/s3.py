"""S3: publish files, skipping those whose content is already there.

Files come from ``repo_files.files_under``: resolved, inside the repository, regular. They
are opened again here with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked with ``fstat``, so
a link or a FIFO swapped in after the walk is refused rather than followed or waited on.
Files can be large (models): they are streamed, never read whole into memory, and the
checksum recorded with an upload is of the very bytes sent, read through the same handle.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from release import repo_files
from release.adapters.aws.clients import explain

CHECKSUM_KEY = "release-sha256"
_BLOCK = 1 << 20


def open_regular(path: Path) -> IO[bytes]:
    """``path``, a resolved regular file, opened for reading without following a link or
    blocking on a FIFO; ``PathRefused`` when it is anything else or cannot be opened."""
    return repo_files.open_regular(path, str(path))


def _digest(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a regular file, read in blocks."""
    with open_regular(path) as handle:
        return _digest(handle)


def remote_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The checksum release stored with the object, or None when it is absent."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise explain(exc, f"read s3://{bucket}/{key}") from None
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"read s3://{bucket}/{key}") from None
    value = head.get("Metadata", {}).get(CHECKSUM_KEY)
    return str(value) if value else None


def publish(s3: Any, bucket: str, key: str, path: Path, remote: str | None) -> bool:
    """Upload ``path`` unless S3 holds the same content (``remote`` is its checksum there);
    True when it was uploaded. One handle is hashed, rewound and streamed, so the recorded
    checksum is of what was sent."""
    with open_regular(path) as body:
        checksum = _digest(body)
        if checksum == remote:
            return False
        body.seek(0)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={CHECKSUM_KEY: checksum})
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"upload s3://{bucket}/{key}") from None
    return True
