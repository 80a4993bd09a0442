"""Git ancestry of recorded commits: is a running build older than ours?"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from release.errors import ReleaseError

_TIMEOUT = 60


def descends_from(root: Path, commit: str, ancestor: str) -> bool | None:
    """True when ``ancestor`` is in ``commit``'s history; None when ``commit`` is not here.

    (``git merge-base --is-ancestor``: exit 0 yes, 1 no, other: an unknown object.)
    """
    if shutil.which("git") is None:
        raise ReleaseError("git is not installed", "install git (apt-get install git)")
    known = subprocess.run(["git", "-C", str(root), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True, timeout=_TIMEOUT, check=False)
    if known.returncode != 0:
        return None
    done = subprocess.run(["git", "-C", str(root), "merge-base", "--is-ancestor", ancestor,
                           commit], capture_output=True, timeout=_TIMEOUT, check=False)
    if done.returncode in {0, 1}:
        return done.returncode == 0
    return None
