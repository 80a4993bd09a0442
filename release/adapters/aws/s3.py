"""S3: publish files, skipping those whose content is already there."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from release.adapters.aws.clients import explain

CHECKSUM_KEY = "release-sha256"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def upload(s3: Any, bucket: str, key: str, path: Path, checksum: str) -> None:
    """Upload one file with its checksum recorded as metadata."""
    try:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={CHECKSUM_KEY: checksum})
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"upload s3://{bucket}/{key}") from None
