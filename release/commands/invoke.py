"""``release invoke``: run a service's Lambda function once and print its answer, so a
release (or a person) can smoke-test a function. Exit 1 when the function reports an error.

The payload is JSON given inline (``--payload '{"input": "x"}'``) or read from a file in the
repository (``--payload @events/sample.json``: inside the repository after resolving links,
a regular file, at most 6 MB). The qualifier is the environment's alias unless
``--qualifier`` names a version or another alias.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import repo_files
from release.adapters.aws import lambda_invoke
from release.engine.context import Deps, select
from release.engine.operations import aws_context
from release.errors import EXIT_FAILED, EXIT_OK, ReleaseError, UsageError
from release.names import printable
from release.output import envelope

QUALIFIER = re.compile(r"[a-zA-Z0-9$_-]{1,128}")  # Lambda's Qualifier pattern
PAYLOAD_HINT = "pass JSON, e.g. --payload '{\"input\": \"sample\"}', or @FILE for a JSON file"


@dataclass(frozen=True)
class Options:
    """Which function to invoke where, with what."""

    root: Path
    environment: str
    service: str
    payload: str = "{}"  # JSON, or @path of a JSON file inside the repository
    qualifier: str | None = None  # default: the environment's alias


@dataclass(frozen=True)
class Result:
    """The function's answer."""

    environment: str
    service: str
    invoked: lambda_invoke.Invoked

    @property
    def exit_code(self) -> int:
        """1 when the function reported an error."""
        return EXIT_FAILED if self.invoked.failed else EXIT_OK

    def _text(self) -> str:
        return self.invoked.payload.decode("utf-8", "replace")

    def to_text(self) -> str:
        """The payload; on a function error, what failed and the log's last lines."""
        lines = [printable(line) for line in self._text().splitlines()]
        if self.invoked.failed:
            lines.append(f"{self.service}: {self.invoked.function}:{self.invoked.qualifier} "
                         f"(version {self.invoked.version}) failed: "
                         f"{self.invoked.function_error}")
            lines += [f"  log: {printable(line)}"
                      for line in self.invoked.log_tail.splitlines()[-20:]]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The versioned JSON envelope."""
        return envelope("invoke", {
            "environment": self.environment, "service": self.service,
            "function": self.invoked.function, "qualifier": self.invoked.qualifier,
            "executed_version": self.invoked.version,
            "function_error": self.invoked.function_error, "payload": self._text(),
            "log_tail": self.invoked.log_tail})


def payload_bytes(root: Path, given: str) -> bytes:
    """The payload: ``given`` itself, or the file ``@path`` names; it must be JSON."""
    if given.startswith("@"):
        rel = given[1:]
        try:
            raw = repo_files.read_bounded(root, rel, lambda_invoke.MAX_PAYLOAD)
        except repo_files.PathRefused as exc:
            raise UsageError(f"--payload {printable(given)}: {exc.message}", exc.hint) from None
        except OSError as exc:
            raise UsageError(f"--payload {printable(given)}: cannot read it "
                             f"({type(exc).__name__})", PAYLOAD_HINT) from None
    else:
        raw = given.encode()
        if len(raw) > lambda_invoke.MAX_PAYLOAD:
            raise UsageError("--payload is over 6 MB, Lambda's limit", PAYLOAD_HINT)
    try:
        json.loads(raw)
    except ValueError as exc:
        where = f"--payload {printable(given)}" if given.startswith("@") else "--payload"
        raise UsageError(f"{where} is not JSON: {exc}", PAYLOAD_HINT) from None
    return raw


def qualifier_of(given: str | None, alias: str) -> str:
    """``--qualifier``, checked against Lambda's pattern, or the environment's alias."""
    if given is None:
        return alias
    if not QUALIFIER.fullmatch(given):
        raise UsageError(f"--qualifier {printable(given)!r} is not a version or alias name",
                         "a version number (7), $LATEST or an alias name (letters, digits, "
                         "- and _)")
    return given


def run(options: Options, deps: Deps | None = None) -> Result:
    """Invoke the service's function once, synchronously."""
    deps = deps or Deps()
    payload = payload_bytes(options.root, options.payload)
    qualifier_of(options.qualifier, "")  # checked before any cloud call
    with aws_context(options.root, options.environment, deps) as ctx:
        [dep] = select(ctx.env, (options.service,))
        if dep.lambda_ is None:
            raise UsageError(f"{dep.name} has no Lambda function in {ctx.env.name}",
                             "release invoke runs Lambda functions")
        qualifier = qualifier_of(options.qualifier, dep.lambda_.alias)
        if ctx.aws is None:
            raise ReleaseError(f"{ctx.env.path} has no aws block")
        function = dep.lambda_.function
        seconds = lambda_invoke.timeout_of(ctx.client("lambda"), function, qualifier)
        lam = ctx.aws.invoke_client(seconds + lambda_invoke.COLD_START_SECONDS)
        invoked = lambda_invoke.invoke(lam, function, qualifier, payload)
    return Result(options.environment, dep.name, invoked)


def register(sub: Any) -> None:
    """Add ``invoke`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "invoke", help="run a service's Lambda function once and print its answer",
        description="Invoke the service's Lambda function (its alias, or --qualifier) with a "
                    "JSON payload and print the answer; exit 1 when the function fails.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("service", metavar="SERVICE", help="the service whose function to run")
    parser.add_argument("--payload", default="{}", metavar="JSON|@FILE",
                        help="the event: JSON, or @FILE for a JSON file in the repository "
                             "(default: {})")
    parser.add_argument("--qualifier", default=None, metavar="Q",
                        help="a version or alias (default: the environment's alias)")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, args.service, args.payload, args.qualifier),
        Deps(environ=args.environ)))
