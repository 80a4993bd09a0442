"""Base images made on this machine, since no image can be pulled from a hub here.

``release-base/busybox:1`` is a ``docker import`` of a root filesystem holding the static
busybox binary and a symlink per applet. Example Dockerfiles use it as
``ARG BASE_IMAGE`` / ``FROM ${BASE_IMAGE}`` with ``RUN`` steps in busybox ``sh``.
"""

from __future__ import annotations

import io
import struct
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

from release.errors import ReleaseError

BUSYBOX_IMAGE = "release-base/busybox:1"
_PT_INTERP = 3

ListApplets = Callable[[Path], Sequence[str]]

# /etc/passwd lines; "x" means the (absent) password lives in /etc/shadow.
_ETC_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"  # noqa: S105
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/bin/sh"]',
]


def is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF executable with no program interpreter (static)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return False
    is_64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is_64:
        phoff, = struct.unpack_from(order + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(order + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x2A)
    for index in range(phnum):
        p_type, = struct.unpack_from(order + "I", data, phoff + index * phentsize)
        if p_type == _PT_INTERP:
            return False
    return True


def list_applets(busybox: Path) -> Sequence[str]:
    """The applet paths busybox knows (``bin/sh``, ``usr/bin/env``, ...)."""
    result = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, check=True, text=True
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def busybox_rootfs(busybox: Path, applets: Sequence[str]) -> bytes:
    """A reproducible tar of the root filesystem (fixed mtimes and owners)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, mode in (("bin", 0o755), ("sbin", 0o755), ("usr", 0o755),
                                ("usr/bin", 0o755), ("usr/sbin", 0o755), ("etc", 0o755),
                                ("root", 0o700), ("tmp", 0o1777), ("var", 0o755),
                                ("var/tmp", 0o1777), ("proc", 0o555), ("sys", 0o555),
                                ("dev", 0o755), ("home", 0o755)):
            _add(tar, directory, tarfile.DIRTYPE, mode)
        _add(tar, "bin/busybox", tarfile.REGTYPE, 0o755, data=busybox.read_bytes())
        for applet in sorted(set(applets)):
            if applet.strip("/") != "bin/busybox":
                _add(tar, applet.strip("/"), tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        _add(tar, "etc/passwd", tarfile.REGTYPE, 0o644, data=_ETC_PASSWD.encode())
        _add(tar, "etc/group", tarfile.REGTYPE, 0o644, data=_GROUP.encode())
    return buffer.getvalue()


def _add(
    tar: tarfile.TarFile, name: str, kind: bytes, mode: int, *, data: bytes = b"", link: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def image_exists(engine: docker.DockerClient, reference: str) -> bool:
    """True when the engine already holds ``reference``."""
    import docker.errors

    try:
        engine.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_busybox_image(
    engine: docker.DockerClient,
    busybox: Path,
    list_applets_of: ListApplets = list_applets,
    reference: str = BUSYBOX_IMAGE,
) -> bool:
    """Import ``reference`` from ``busybox`` unless it exists; True when it was made now."""
    if image_exists(engine, reference):
        return False
    if not busybox.is_file() or not is_static_elf(busybox):
        raise ReleaseError(
            f"base image {reference}: {busybox} is not a static busybox binary",
            hint="apt-get install -y busybox-static",
        )
    import docker.errors

    repository, _, tag = reference.rpartition(":")
    rootfs = busybox_rootfs(busybox, list_applets_of(busybox))
    try:
        engine.api.import_image_from_data(rootfs, repository=repository, tag=tag, changes=_CHANGES)
    except docker.errors.DockerException as exc:
        raise ReleaseError(
            f"base image {reference}: docker import failed: {exc}",
            hint="check the Docker engine log (release local status shows where it is)",
        ) from exc
    if not image_exists(engine, reference):
        raise ReleaseError(f"base image {reference}: docker import did not create it")
    return True
