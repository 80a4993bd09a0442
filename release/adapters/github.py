"""GitHub Actions: workflow commands in the log, step outputs and the job summary.

The runner reads a step's stdout and stderr line by line (a line ends at ``\\n`` or
``\\r``) and runs as a workflow command every line that starts with ``::`` once leading
whitespace is trimmed (``::error``, ``::add-mask::``, ``::stop-commands::``...), and every
line holding ``##[`` anywhere (the legacy form: ``##[error]``, ``##[set-output name=x;]``).
Whoever can push a branch controls config values, Dockerfiles (their build output) and, by
deploying once, tags read back from the cloud; none of it may start a command. So, under
GitHub Actions, ``release.cli`` writes both streams through :class:`CommandGuard`, which
neutralizes any such line, and our own commands go past it through :func:`command`, their
data escaped as the runner unescapes it.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

# What .NET's TrimStart removes, and more: characters a culture-aware StartsWith or IndexOf
# may ignore (C0/C1 controls, zero-width and bidi marks). Line breaks are not in it: they
# end a line. Ignoring too much only neutralizes a harmless line.
_IGNORED = ("[^\\S\\r\\n]|[\\x00-\\x08\\x0e-\\x1f\\x7f-\\x9f\\xad\\u061c\\u180e"
            "\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb]")
# A line that starts (after ignored characters) with '::', or with ':' when the write ends
# there (the next write may bring the second ':').
_V2_START = re.compile(rf"(\A|[\r\n])((?:{_IGNORED})*)(?=:(?::|\Z))")
_LEGACY = re.compile(rf"(#(?:{_IGNORED})*#(?:{_IGNORED})*)\[")
_ALL_IGNORED = re.compile(rf"(?:{_IGNORED})*")
_TAIL = 16  # characters kept to catch a '##[' split across writes
MARK = "\\"  # put before '::' or '[': visible in the log, and the runner reads no command
_COMMAND_NAME = re.compile(r"[a-z][a-z-]*")


def escape_data(text: str) -> str:
    """A command's message, escaped as the runner unescapes it (``%``, ``\\r``, ``\\n``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: as data, and ``:`` and ``,`` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(name: str, message: str = "", **props: object) -> str:
    """``::name k=v,...::message``, every value escaped (properties that are None left out)."""
    if not _COMMAND_NAME.fullmatch(name):
        raise ValueError(f"not a workflow command name: {name!r}")
    shown = ",".join(f"{key}={escape_property(str(value))}" for key, value in props.items()
                     if value is not None and value != "")
    return f"::{name}{' ' + shown if shown else ''}::{escape_data(message)}"


def command(name: str, message: str = "", *, stream: TextIO | None = None,
            **props: object) -> None:
    """Write one workflow command of ours (past the guard) to ``stream`` (default stdout)."""
    write_command(stream or sys.stdout, format_command(name, message, **props))


def write_command(stream: TextIO, line: str) -> None:
    """Write a command line built by :func:`format_command` past the guard, if any."""
    past = getattr(stream, "write_command", None)
    if callable(past):
        past(line)
    else:
        stream.write(line + "\n")


class CommandGuard:
    """A text stream writing through to ``stream``, with every line that could start a
    workflow command neutralized (a visible mark before its ``::`` or ``[``).

    Writes may be partial lines (``print`` writes the text, then the newline) and may
    come from several threads: the state of the current line is kept under a lock.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._blank = True  # the current line holds only ignored characters so far
        self._tail = ""  # the end of what was written, for a '##[' split across writes
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Write ``text``, neutralized."""
        with self._lock:
            self.stream.write(self.neutralized(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each of ``lines``, neutralized."""
        for line in lines:
            self.write(line)

    def write_command(self, line: str) -> None:
        """Write one of our own command lines as it is, on a line of its own."""
        with self._lock:
            fresh = not self._tail or self._tail[-1] in "\r\n"
            self.stream.write(("" if fresh else "\n") + line + "\n")
            self._blank, self._tail = True, "\n"

    def flush(self) -> None:
        """Flush the stream beneath."""
        self.stream.flush()

    def neutralized(self, text: str) -> str:
        """``text`` as it may be written after what was written before (updates the state;
        call under the lock)."""
        if not text:
            return text
        if text == "\n" or ((not self._blank or text[0].isalnum())
                            and "\n" not in text and "\r" not in text and "[" not in text):
            # The common writes, cheaply: text within one line that cannot start a command
            # (not at the start of the line, or starting with a letter or digit), or the
            # newline `print` writes after it.
            self._blank = text == "\n"
            self._tail = (self._tail + text)[-_TAIL:]
            return text
        cut = 0 if self._blank else _first_break(text)
        out = text[:cut] + _V2_START.sub(_mark_command, text[cut:])
        if "[" in out and "#" in self._tail + out:
            out = _LEGACY.sub(_mark_legacy, self._tail + out)[len(self._tail):]
        last = max(out.rfind("\n"), out.rfind("\r"))
        self._blank = (last >= 0 or self._blank) and bool(
            _ALL_IGNORED.fullmatch(out, last + 1))
        self._tail = (self._tail + out)[-_TAIL:]
        return out

    def __getattr__(self, name: str) -> Any:
        # encoding, fileno, isatty...: those of the stream beneath
        return getattr(self.stream, name)


def _mark_command(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2) + MARK


def _mark_legacy(match: re.Match[str]) -> str:
    return match.group(1) + MARK + "["


def _first_break(text: str) -> int:
    found = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    return min(found) if found else len(text)


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append ``name=value`` pairs; multi-line values use a random heredoc delimiter."""
    with path.open("a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            if "\n" in value:
                delimiter = f"EOF_{secrets.token_hex(8)}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")


def append_summary(path: Path, markdown: str) -> None:
    """Append Markdown to the job summary."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip() + "\n")
