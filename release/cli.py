"""The ``release`` command line. The only place that prints errors and picks exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from release import __version__, names
from release.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    Problem,
    ReleaseError,
    UsageError,
)

# Each module has register(subparsers); a parser's `handler(args)` returns a result object.
COMMANDS = (
    "release.commands.validate",
    "release.commands.render",
    "release.commands.deploy",
    "release.commands.diff",
    "release.commands.plan",
    "release.commands.status",
    "release.commands.auth",
    "release.commands.iam",
    "release.commands.azure",
    "release.commands.doctor",
    "release.commands.rollback",
    "release.commands.redeploy",
    "release.commands.continue_",
    "release.commands.stop",
    "release.commands.build",
    "release.commands.init",
    "release.commands.schema",
    "release.commands.invoke",
)
OPTIONAL_COMMANDS = (
    "release.commands.local",
)


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding release.yaml (else ``start``)."""
    for candidate in (start, *start.parents):
        if (candidate / "release.yaml").is_file():
            return candidate
    return start


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every command registered (or just the ``only`` verb, which
    spares importing the others: botocore, docker and azure stay unloaded for `plan`)."""
    parser = argparse.ArgumentParser(
        prog="release",
        description="Build container services once, push them, and deploy them to ECS, "
                    "Lambda and Azure.",
    )
    parser.add_argument("--version", action="version", version=f"release {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=None,
                        help="repository root (default: nearest directory with release.yaml)")
    common.add_argument("--output", choices=("text", "json", "matrix"), default="text",
                        help="result format on stdout (default: text; matrix: a GitHub "
                             "Actions matrix, for `plan`)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_parser_with(common))
    for name in COMMANDS:
        if only is None or name.rsplit(".", 1)[1].rstrip("_") == only:  # continue_
            importlib.import_module(name).register(sub)
    for name in OPTIONAL_COMMANDS:
        if only is not None and name.rsplit(".", 1)[1] != only:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _parser_with(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)

    return Parser


def annotation(problem: Problem) -> str:
    """A GitHub Actions ``::error`` workflow command for one problem."""
    from release.adapters import github as gh

    message = problem.message + (f"\nhint: {problem.hint}" if problem.hint else "")
    return gh.format_command("error", message, file=problem.file, line=problem.line or None,
                             title=problem.field or None)


def report(error: ReleaseError, stream: TextIO, *, github: bool) -> None:
    """Print an error for people (and, under GitHub Actions, as annotations)."""
    from release.adapters import github as gh

    if isinstance(error, ConfigError):
        for problem in error.problems:
            # A field is a path of keys from the config: a key may hold a line break.
            shown = dataclasses.replace(problem, field=names.printable(problem.field))
            print(f"ERROR {shown.render()}", file=stream)
            if problem.hint:
                for i, line in enumerate(problem.hint.splitlines()):
                    print(f"  {'hint: ' if i == 0 else '      '}{line}", file=stream)
            if github:
                gh.write_command(stream, annotation(problem))
        print(f"ERROR {error.message}", file=stream)
        return
    print(f"ERROR {error.message}", file=stream)
    if error.hint:
        for i, line in enumerate(error.hint.splitlines()):
            print(f"{'hint: ' if i == 0 else '      '}{line}", file=stream)
    if github:
        gh.command("error", error.message + (f"\nhint: {error.hint}" if error.hint else ""),
                   stream=stream, title="release")


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """Run one command; return its exit code."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    words = list(argv if argv is not None else sys.argv[1:])
    if words == ["--version"]:
        from release.build_info import describe  # before any command module: fast

        print(describe(__version__))  # release 0.2.0 (<commit12>) or (unknown commit)
        return EXIT_OK
    if env.get("GITHUB_ACTIONS") != "true":
        return _run(words, env, github=False)
    # Under GitHub Actions every line goes through the guard: no value from a config, the
    # cloud, git, docker or an error text can start a workflow command (see
    # release.adapters.github); ours go past it through github.command.
    from release.adapters.github import CommandGuard

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CommandGuard(sys.stdout), CommandGuard(sys.stderr)
    try:
        return _run(words, env, github=True)
    finally:
        sys.stdout, sys.stderr = saved


def _run(words: list[str], env: Mapping[str, str], *, github: bool) -> int:
    verb = next((w for w in words if not w.startswith("-")), None)
    known = {name.rsplit(".", 1)[1] for name in (*COMMANDS, *OPTIONAL_COMMANDS)}
    parser = build_parser(verb if verb in known else None)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return EXIT_CONFIG if exc.code not in (0, None) else EXIT_OK
    if getattr(args, "root", None) is None:
        args.root = find_root(Path.cwd())
    args.root = args.root.resolve()
    args.environ = env  # the only environment commands see: nothing below reads os.environ
    try:
        names.check_arguments(args)  # a manual run's inputs: `x; curl evil` stops here
        # `handler` returns a result object; `func` (the local-cloud verbs) an exit code.
        result = (args.handler if hasattr(args, "handler") else args.func)(args)
    except ReleaseError as exc:
        report(exc, sys.stderr, github=github)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ERROR interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: say what to report
        if env.get("RELEASE_DEBUG"):
            traceback.print_exc()
        print(f"ERROR internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: this is a bug in release; rerun with RELEASE_DEBUG=1 and report the "
              "traceback", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(result, int):
        return result
    for notice in getattr(result, "notices", ()):  # the config's, e.g. template nulls dropped
        print(names.printable(notice), file=sys.stderr)
    if args.output == "matrix" and not hasattr(result, "to_matrix"):
        report(UsageError(f"--output matrix is for `release plan`, not `{args.command}`"),
               sys.stderr, github=github)
        return EXIT_CONFIG
    text = {"json": result.to_json, "matrix": getattr(result, "to_matrix", None)}.get(
        args.output, result.to_text)()
    if text:
        print(text)
    if github:
        _publish(result, env)
    return int(getattr(result, "exit_code", EXIT_OK))


def _publish(result: Any, env: Mapping[str, str]) -> None:
    """Step outputs and job summary, for results that have them."""
    from release.adapters import github as gh

    if env.get("GITHUB_OUTPUT") and hasattr(result, "github_outputs"):
        gh.write_outputs(Path(env["GITHUB_OUTPUT"]), result.github_outputs())
    if env.get("GITHUB_STEP_SUMMARY") and hasattr(result, "summary_markdown"):
        gh.append_summary(Path(env["GITHUB_STEP_SUMMARY"]), result.summary_markdown())


def main_entry() -> None:
    """Console-script entry point."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `release status | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
