"""Components of the local cloud keep none of their starter's descriptors."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from release.local import processes
from release.local.waiting import Timing


def test_a_component_holds_no_descriptor_of_its_starter(tmp_path: Path) -> None:
    # As `flock FILE release local up` runs it: the lock's descriptor is inheritable.
    lock = tmp_path / "lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    os.set_inheritable(fd, True)
    fcntl.flock(fd, fcntl.LOCK_EX)
    started = processes.launch(processes.Launch(
        name="sleeper", argv=["sleep", "30"], log=tmp_path / "sleeper.log",
        env={"PATH": os.environ["PATH"]}, cwd=tmp_path))
    try:
        held = {str(fd.readlink()) for fd in Path(f"/proc/{started.pid}/fd").iterdir()}
        assert str(lock) not in held
        assert held >= {os.devnull, str(tmp_path / "sleeper.log")}
        os.close(fd)
        other = os.open(lock, os.O_RDWR)
        try:  # the lock is free once its starter lets go, though the component runs on
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        processes.stop(started.pid, started.proc_start, 1.0, Timing())
