"""Where build output goes, and what it never shows: the log of concurrent builds (one
``::group::`` per image under GitHub Actions) and the secret values replaced by ``***``."""

from __future__ import annotations

import contextlib
import csv
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class BuildLog:
    """Where build output goes: each line prefixed by its service locally; under GitHub
    Actions one ``::group::`` per image. Builds run at once, so one image owns the open
    group and streams live; the others are held and shown, each in its group, after it."""

    def __init__(self, log: Callable[[str], None],
                 command: Callable[[str, str], None] | None = None) -> None:
        self.log = log
        self.command = command  # writes our workflow command (None: not under Actions)
        self._lock = threading.Lock()
        self._owner: str | None = None
        self._held: dict[str, list[str]] = {}
        self._done: list[str] = []

    def start(self, name: str, title: str) -> None:
        """An image's build begins."""
        with self._lock:
            if self.command is None:
                self.log(f"{name} | {title}")
                return
            self._held[name] = [title]
            if self._owner is None:
                self._take(name)

    def line(self, name: str, text: str) -> None:
        """One line of an image's build output."""
        with self._lock:
            if self.command is None:
                self.log(f"{name} | {text}")
            elif self._owner == name:
                self.log(text)
            else:
                self._held.setdefault(name, []).append(text)

    def end(self, name: str) -> None:
        """An image's build is over (done or failed)."""
        with self._lock:
            if self.command is None:
                return
            if self._owner != name:
                self._done.append(name)
                return
            self.command("endgroup", "")
            self._owner = None
            for done in self._done:
                self._take(done)
                self.command("endgroup", "")
            self._done.clear()
            self._owner = None
            if self._held:
                self._take(next(iter(self._held)))

    def _take(self, name: str) -> None:
        assert self.command is not None  # noqa: S101
        held = self._held.pop(name, [])
        self.command("group", f"build {name}")
        self._owner = name
        for text in held:
            self.log(text)


def secret_values(secret_args: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The values behind ``--secret`` values (``env=`` from ``environ``, ``src=`` read, at
    most 64 KiB), to keep them out of the log: never shown, only replaced."""
    values = []
    for arg in secret_args:
        [parts] = list(csv.reader([arg])) or [[]]
        fields = dict(part.partition("=")[::2] for part in parts)
        if fields.get("env") and environ.get(fields["env"]):
            values.append(environ[fields["env"]])
        if fields.get("src"):
            with contextlib.suppress(OSError), Path(fields["src"]).open("rb") as handle:
                text = handle.read(1 << 16).decode("utf-8", "replace")
                values += [text, *(line.strip() for line in text.splitlines())]
    return [v for v in values if len(v.strip()) >= 6]


def redactor(values: Sequence[str]) -> Callable[[str], str]:
    """A function replacing each of ``values`` (3 characters or more) by ``***``."""
    secret = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in secret:
            text = text.replace(value, "***")
        return text

    return redact
