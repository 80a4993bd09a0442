"""Errors users read: a message, where it happened, and a hint on how to fix it.

Commands raise these; only ``release.cli.main`` prints them and picks the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1  # a release step failed (cloud, docker, network)
EXIT_CONFIG = 2  # the input is wrong: config files, command-line arguments


class ReleaseError(Exception):
    """A failure a user can act on: what went wrong and how to fix it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ReleaseError):
    """The command line asks for something that cannot be done."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file, located as precisely as we can."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str | None = None

    def location(self) -> str:
        """``path:line`` (or just ``path`` when no line is known)."""
        return f"{self.file}:{self.line}" if self.line else self.file

    def render(self) -> str:
        """The one-line form: ``path:line: field: message``."""
        where = f"{self.field}: " if self.field else ""
        return f"{self.location()}: {where}{self.message}"


class ConfigError(ReleaseError):
    """One or more problems in the configuration, all reported at once."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"configuration has {count} {noun}")
        self.problems = problems


class StepError(ReleaseError):
    """A release step failed for one service: names the service, the step and the fix."""

    def __init__(self, service: str, step: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{service}: {step}: {message}", hint)
        self.service = service
        self.step = step
